"""Pages of signing in and of one's own account: login (with the lockout's answer), password change, the account
page with "sign out everywhere", and an admin's unlock / sign-out of a staff account."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from govgrid.net import client_ip

from . import accounts, selectors
from .forms import LoginForm
from .middleware import SESSION_REMEMBER_KEY, start_idle_clock


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        remember = bool(form.cleaned_data.get("remember"))
        self.request.session[SESSION_REMEMBER_KEY] = remember
        start_idle_clock(self.request.session)
        return response


def _until_text(until) -> str:
    if until is None:
        return ""
    local = timezone.localtime(until)
    minutes = max(1, int((until - timezone.now()).total_seconds() // 60) + 1)
    return _(
        "Try again after %(time)s (in about %(minutes)d minutes), or ask an administrator to unlock the account."
    ) % {
        "time": formats.time_format(local, "H:i"),
        "minutes": minutes,
    }


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer when an account or an address is locked out: the login page, saying until when."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    if request.path.startswith("/api/"):
        body = {
            "code": "locked_out",
            "detail": str(_("Too many failed logins: signing in is paused for this account or this address.")),
        }
        return JsonResponse(body, status=429)
    lock = accounts.lockout_of(username=username, ip=getattr(request, "axes_ip_address", None) or client_ip(request))
    form = LoginForm(request, initial={"username": username})
    context = {
        "form": form,
        "locked_out": True,
        "lockout_message": _("Too many failed logins: signing in is paused for this account or this address."),
        "lockout_until": _until_text(lock.until),
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        accounts.user_password_changed(user=self.request.user)
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["forced"] = self.request.user.must_change_password
        return context


@login_required
def account(request: HttpRequest) -> HttpResponse:
    context = {
        "remembered": bool(request.session.get(SESSION_REMEMBER_KEY)),
        "idle_minutes": settings.GOVGRID_SESSION_IDLE_MINUTES,
        "remember_days": settings.GOVGRID_SESSION_REMEMBER_DAYS,
    }
    return render(request, "grids/account.html", context)


@login_required
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    accounts.user_sign_out_everywhere(actor=request.user, user=request.user)
    logout(request)
    messages.success(request, _("You are signed out on every browser and phone. Sign in again here."))
    return redirect("login")


@login_required
@require_POST
def staff_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, pk=pk)
    accounts.staff_unlock(actor=request.user, staff=staff)
    messages.success(request, _("%(name)s may sign in again.") % {"name": staff.label})
    return redirect("staff_edit", pk=staff.pk)


@login_required
@require_POST
def staff_sign_out(request: HttpRequest, pk: int) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, pk=pk)
    accounts.user_sign_out_everywhere(actor=request.user, user=staff)
    if staff.pk == request.user.pk:
        logout(request)
        return redirect("login")
    messages.success(request, _("%(name)s is signed out on every browser and phone.") % {"name": staff.label})
    return redirect("staff_edit", pk=staff.pk)
