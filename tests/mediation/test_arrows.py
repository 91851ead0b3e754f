"""The arrows point one way: mediation reads cases, parties and grids; nothing below it imports it."""

from tests.parties.test_arrows import imported_apps


def test_nothing_below_imports_mediation():
    for app in ("cases", "parties", "grids", "notifications"):
        assert "mediation" not in imported_apps(app), app


def test_mediation_imports_no_dashboard():
    assert "dashboard" not in imported_apps("mediation")
