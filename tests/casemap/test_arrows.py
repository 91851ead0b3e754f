"""Nothing imports the case map: it reads grids and cases, and only the project's wiring (settings, urls) names it."""

from tests.parties.test_arrows import imported_apps


def test_no_app_imports_the_case_map():
    for app in ("grids", "cases", "parties", "notifications", "govgrid", "bench", "mediation"):
        assert "casemap" not in imported_apps(app), app


def test_the_case_map_reads_only_below_it():
    # The map sits on the top floor beside the dashboard, so it may also read mediation (the risk warnings layer).
    below = {"cases", "grids", "parties", "notifications", "bench", "mediation", "dashboard"}
    assert imported_apps("casemap") & below <= {"cases", "grids", "mediation"}


def test_mediation_reads_only_below_it():
    assert not {"dashboard", "casemap", "bench"} & imported_apps("mediation")
