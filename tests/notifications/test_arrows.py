"""notifications is generic: it imports no case code (a notice carries a link and a subject, not a case)."""

from tests.parties.test_arrows import imported_apps


def test_notifications_imports_no_case_code():
    assert not {"cases", "parties"} & imported_apps("notifications")
