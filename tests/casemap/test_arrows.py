"""Nothing imports the case map: it reads grids and cases, and only the project's wiring (settings, urls) names it."""

from tests.parties.test_arrows import imported_apps


def test_no_app_imports_the_case_map():
    for app in ("grids", "cases", "parties", "notifications", "govgrid", "bench"):
        assert "casemap" not in imported_apps(app), app


def test_the_case_map_reads_only_below_it():
    assert imported_apps("casemap") & {"cases", "grids", "parties", "notifications", "bench"} <= {"cases", "grids"}
