from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class GridsConfig(AppConfig):
    name = "grids"
    verbose_name = _("Regions and access")

    def ready(self) -> None:
        from .roles import ensure_roles

        # After each app's migrations: its permissions exist by then (auth's handler runs first).
        post_migrate.connect(ensure_roles, dispatch_uid="grids.ensure_roles")
        _audit_sign_ins()


def _audit_sign_ins() -> None:
    """Every login, logout, failed login and lockout goes to the audit trail (grids/accounts.py)."""
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    from . import accounts
    from .middleware import start_idle_clock

    def logged_in(sender, request, user, **kwargs):
        accounts.record_login(request=request, user=user)
        if request is not None and hasattr(request, "session"):
            start_idle_clock(request.session)

    def logged_out(sender, request, user, **kwargs):
        accounts.record_logout(request=request, user=user)

    def login_failed(sender, credentials, request=None, **kwargs):
        # Axes' own receiver ran first: a refusal during a lockout leaves no failure count on the request.
        refused = bool(getattr(request, "axes_locked_out", False)) and (
            getattr(request, "axes_failures_since_start", None) is None
        )
        accounts.record_login_failed(request=request, username=credentials.get("username"), locked_out=refused)

    def locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
        if request is not None and getattr(request, "axes_failures_since_start", None) is not None:
            accounts.record_lockout(request=request, username=username, ip=ip_address)  # a new lockout

    user_logged_in.connect(logged_in, dispatch_uid="grids.audit_login", weak=False)
    user_logged_out.connect(logged_out, dispatch_uid="grids.audit_logout", weak=False)
    user_login_failed.connect(login_failed, dispatch_uid="grids.audit_login_failed", weak=False)
    user_locked_out.connect(locked_out, dispatch_uid="grids.audit_locked_out", weak=False)
