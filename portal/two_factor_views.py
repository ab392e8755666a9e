"""Two-factor authentication pages: turning it on (QR code, confirmation, backup codes), turning
it off, the second step of the login, and the gate the consoles put in front of their pages.

The login keeps its password step. When the account has an authenticator app, the password
step does not sign in: it leaves a short-lived pending login in the session, and the session
is signed in (``login``) and verified (``django_otp.login``) only once the code is right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from foyer.errors import FoyerError, apply_errors
from shared_identity import login_limits, two_factor
from shared_identity.access import next_of, safe_next, with_next
from shared_identity.models import Account

from .forms import TwoFactorCodeForm, TwoFactorDisableForm, TwoFactorSetupForm

PENDING_SESSION_KEY = "foyer_two_factor_pending"
PENDING_SECONDS = 10 * 60
CODES_SESSION_KEY = "foyer_two_factor_new_codes"


# --- Login: the password step, then the code -------------------------------------------------------


def login_locked(request: HttpRequest, credentials: dict | None = None) -> HttpResponse:
    """Too many wrong passwords (settings.AXES_LOCKOUT_CALLABLE): a French page, 429, and the
    way out (the password reset) while the lock lasts."""
    response = render(
        request, "portal/login_locked.html", {"minutes": login_limits.COOL_OFF_MINUTES}, status=429
    )
    response["Retry-After"] = str(login_limits.COOL_OFF_MINUTES * 60)
    return response


class LoginView(auth_views.LoginView):
    """Django's login page; an account with an authenticator app goes on to the code step."""

    def get_redirect_url(self):
        """Only a path of this site (``safe_next``): a view name or a stray value in ``next``
        would fail the redirect after the password, or after the code."""
        return safe_next(self.request, next_of(self.request), "")

    def form_valid(self, form):
        account = form.get_user()
        if not two_factor.has_two_factor(account):
            return super().form_valid(form)
        self.request.session[PENDING_SESSION_KEY] = {
            "account": account.pk,
            "backend": account.backend,
            "hash": account.get_session_auth_hash(),
            "next": self.get_success_url(),  # already checked against foreign hosts
            "since": int(time.time()),
        }
        return redirect("portal:two_factor_verify")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's new-password page; saving it also unlocks an account locked by wrong passwords."""

    def form_valid(self, form):
        response = super().form_valid(form)
        login_limits.forget_account_failures(form.user.email)
        return response


@dataclass(frozen=True)
class _PendingLogin:
    account: Account
    backend: str
    next: str


def _pending_login(request: HttpRequest) -> _PendingLogin | None:
    data = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(data, dict) or time.time() - data.get("since", 0) > PENDING_SECONDS:
        return None
    account = Account.objects.filter(pk=data.get("account"), is_active=True).first()
    # A password changed in between cancels the pending login.
    if account is None or not constant_time_compare(data.get("hash", ""), account.get_session_auth_hash()):
        return None
    if data.get("backend") not in settings.AUTHENTICATION_BACKENDS:
        return None
    return _PendingLogin(account=account, backend=data["backend"], next=data.get("next") or "")


@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    pending = None
    if user.is_authenticated:
        # A session signed in before the app was added (or by another path): verify it.
        if user.is_verified() or not two_factor.has_two_factor(user):
            return redirect(_safe_next(request))
        account, next_url = user, _safe_next(request)
    else:
        pending = _pending_login(request)
        if pending is None:
            request.session.pop(PENDING_SESSION_KEY, None)
            messages.info(
                request,
                _(
                    "Votre connexion a expiré : saisissez à nouveau votre adresse e-mail et votre mot de passe."
                ),
            )
            return redirect("portal:login")
        # Checked before the code is: a bad target must not cost the person a code.
        account, next_url = (
            pending.account,
            safe_next(request, pending.next, resolve_url(settings.LOGIN_REDIRECT_URL)),
        )
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.verify_second_factor(account=account, token=form.cleaned_data["code"])
        except FoyerError as error:
            apply_errors(form, error)
        else:
            if pending is not None:
                request.session.pop(PENDING_SESSION_KEY, None)
                login(request, account, backend=pending.backend)
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = two_factor.backup_codes_left(account)
                messages.warning(
                    request,
                    ngettext(
                        "Vous avez utilisé un code de secours : il vous en reste %(count)s.",
                        "Vous avez utilisé un code de secours : il vous en reste %(count)s.",
                        left,
                    )
                    % {"count": left},
                )
            return redirect(next_url)
    return render(
        request,
        "portal/two_factor_verify.html",
        {"form": form, "next": next_url if pending is None else "", "pending": pending is not None},
    )


# --- Turning it on and off ("Mon compte" › Sécurité) -------------------------------------------------


def _usable_by(request: HttpRequest) -> None:
    if not two_factor.may_use_two_factor(request.user):
        raise Http404


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    _usable_by(request)
    account = request.user
    device = two_factor.get_totp_device(account)
    if device is not None:
        if not account.is_verified():
            return redirect(with_next(reverse("portal:two_factor_verify"), request.get_full_path()))
        return _render_manage(request, device)
    form = TwoFactorSetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.confirm_totp_setup(account=account, token=form.cleaned_data["code"])
        except FoyerError as error:
            apply_errors(form, error)
        else:
            otp_login(request, device)  # this session has just proved it holds the app
            request.session[CODES_SESSION_KEY] = codes
            messages.success(request, _("La double authentification est activée sur votre compte."))
            return redirect(with_next(reverse("portal:two_factor_backup_codes"), _safe_next(request, "")))
    try:
        pending_device = two_factor.start_totp_setup(account=account)
    except FoyerError as error:  # turned on meanwhile, in another tab
        messages.info(request, error.message)
        return redirect("portal:two_factor_setup")
    return render(
        request,
        "portal/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": _qr_svg(pending_device.config_url),
            "secret": two_factor.totp_secret(pending_device),
            "required_by": two_factor.communes_requiring_two_factor(account),
            "next": _safe_next(request, ""),
        },
    )


@login_required
def two_factor_backup_codes(request: HttpRequest) -> HttpResponse:
    """The new backup codes, shown once: they leave the session as the page is drawn."""
    codes = request.session.pop(CODES_SESSION_KEY, None)
    if not codes:
        return redirect("portal:two_factor_setup")
    response = render(
        request,
        "portal/two_factor_backup_codes.html",
        {
            "codes": [two_factor.format_backup_code(code) for code in codes],
            "next": _safe_next(request, reverse("portal:two_factor_setup")),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def two_factor_regenerate(request: HttpRequest) -> HttpResponse:
    _usable_by(request)
    if two_factor.has_two_factor(request.user) and not request.user.is_verified():
        return redirect(with_next(reverse("portal:two_factor_verify"), reverse("portal:two_factor_setup")))
    try:
        codes = two_factor.regenerate_backup_codes(account=request.user)
    except FoyerError as error:
        messages.error(request, error.message)
        return redirect("portal:two_factor_setup")
    request.session[CODES_SESSION_KEY] = codes
    messages.success(request, _("Vos anciens codes de secours ne fonctionnent plus : notez les nouveaux."))
    return redirect("portal:two_factor_backup_codes")


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    _usable_by(request)
    device = two_factor.get_totp_device(request.user)
    if device is None:
        return redirect("portal:two_factor_setup")
    if not request.user.is_verified():
        return redirect(with_next(reverse("portal:two_factor_verify"), reverse("portal:two_factor_setup")))
    form = TwoFactorDisableForm(request.POST)
    if form.is_valid():
        try:
            two_factor.disable_two_factor(
                account=request.user, password=form.cleaned_data["password"], token=form.cleaned_data["code"]
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("La double authentification est désactivée sur votre compte."))
            return redirect("portal:account")
    return _render_manage(request, device, disable_form=form)


def _render_manage(request: HttpRequest, device, *, disable_form=None) -> HttpResponse:
    return render(
        request,
        "portal/two_factor_manage.html",
        {
            "device": device,
            "backup_codes_left": two_factor.backup_codes_left(request.user),
            "required_by": two_factor.communes_requiring_two_factor(request.user),
            "disable_form": disable_form or TwoFactorDisableForm(),
        },
    )


# --- Helpers -------------------------------------------------------------------------------------


def _safe_next(request: HttpRequest, default: str | None = None) -> str:
    """The ``next`` of the request when it is a path of this site, else ``default``."""
    return safe_next(
        request, next_of(request), resolve_url(settings.LOGIN_REDIRECT_URL) if default is None else default
    )


def _qr_svg(data: str) -> str:
    """The QR code as an inline SVG element (drawn by the qrcode package, no image library)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    # The markup comes from the library's XML writer: the only input, the URI, is escaped by it.
    return mark_safe(svg)  # noqa: S308
