"""Who may go on, for the interfaces' gates: the consoles' second factor (a code in this
session, an authenticator app where the commune requires one) and a staff role that meets it."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _

from . import two_factor
from .models import StaffRole
from .two_factor import get_staff_role_with_two_factor


def second_factor_redirect(
    request: HttpRequest, *, has_device: bool | None = None, required_by=None, operator: bool = False
) -> HttpResponse | None:
    """Where a console sends a signed-in account before its pages, or None to let it in.

    An account with an authenticator app must have given a code in this session; when
    ``required_by`` (a commune) requires two-factor authentication of its staff, or for the
    operator console (``operator``: always), an account without an app is sent to set one up
    first. ``has_device``, when the caller already knows it, saves a query."""
    user = request.user
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return None
    if has_device is None:
        has_device = two_factor.has_two_factor(user)
    if has_device:
        return redirect(with_next(reverse("portal:two_factor_verify"), request.get_full_path()))
    if operator:
        messages.warning(
            request,
            _(
                "La console des opérateurs exige la double authentification : activez-la sur votre "
                "compte pour y accéder."
            ),
        )
        return redirect(with_next(reverse("portal:two_factor_setup"), request.get_full_path()))
    if required_by is not None:
        messages.warning(
            request,
            _(
                "%(commune)s exige la double authentification pour toute son équipe : activez-la sur "
                "votre compte pour accéder à la console."
            )
            % {"commune": required_by.name},
        )
        return redirect(with_next(reverse("portal:two_factor_setup"), request.get_full_path()))
    return None


def with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


NEXT_MAX_LENGTH = 2000


def safe_next(request: HttpRequest, value, default: str) -> str:
    """Where to go after a page that was given ``next``: ``value`` when it is a path of this
    site ("/reservations/?semaine=…"), else ``default``. A view name ("tableau"), a relative
    or foreign address, a control character or an overlong value all give ``default``, so a
    redirect never fails on what a link carried."""
    if not isinstance(value, str) or not value or len(value) > NEXT_MAX_LENGTH:
        return default
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return default
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return value


def next_of(request: HttpRequest) -> str:
    """The ``next`` a request carries (the form's, else the query string's), unchecked: give it
    to ``safe_next``."""
    return request.POST.get("next") or request.GET.get("next") or ""


def verified_staff_role(request) -> StaffRole | None:
    """The commune staff role of a request that meets the console's two-factor rules (a code
    given in this session when the account has an app; an app when the commune requires
    one), else None. For pages outside the console that show staff more than families (a
    draft news item, for instance)."""
    if not request.user.is_authenticated:
        return None
    role = get_staff_role_with_two_factor(request.user, request.commune)
    if role is None:
        return None
    is_verified = getattr(request.user, "is_verified", None)
    if not (is_verified and is_verified()) and (
        role.account_has_two_factor or request.commune.require_staff_2fa
    ):
        return None
    return role
