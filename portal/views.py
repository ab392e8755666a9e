"""Family portal: dashboard (public schema), a commune's home and the activation link."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from family.activation import activate_family_for_account
from family.dashboard import get_dashboard
from foyer.errors import FoyerError, apply_errors
from shared_identity import selectors, services
from shared_identity.models import Invitation

from .forms import ActivationForm


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    board = get_dashboard(request.user)
    return render(
        request,
        "portal/dashboard.html",
        {
            "board": board,
            "memberships": board.memberships,
            "children": board.children,
            "staff_roles": board.staff_roles,
            "news": board.news,
        },
    )


@require_POST
def activation_renewal(request: HttpRequest, token: str) -> HttpResponse:
    """From an expired activation link: ask the commune for a new one."""
    asked = services.request_link_renewal(commune=request.commune, token=token)
    return render(request, "portal/activation_renewal.html", {"asked": asked}, status=200 if asked else 404)


def commune_home(request: HttpRequest) -> HttpResponse:
    commune = request.commune
    membership = None
    staff_role = None
    if request.user.is_authenticated:
        membership = selectors.list_memberships_of(request.user).filter(commune=commune).first()
        staff_role = selectors.get_staff_role(request.user, commune)
    return render(request, "portal/commune_home.html", {"membership": membership, "staff_role": staff_role})


@require_http_methods(["GET", "POST"])
def activation(request: HttpRequest, token: str) -> HttpResponse:
    commune = request.commune
    try:
        invitation = selectors.get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.FAMILY
        )
    except FoyerError as error:
        return render(
            request, "portal/activation_error.html", {"error": error, "token": token}, status=error.status
        )

    existing_account = selectors.get_account_by_email(invitation.email)
    if existing_account is not None or request.user.is_authenticated:
        return _activation_with_account(request, token, invitation, existing_account)

    form = ActivationForm(request.POST or None, initial=_initial_profile(invitation))
    if request.method == "POST" and form.is_valid():
        try:
            account = services.activate_family_with_new_account(
                commune=commune,
                token=token,
                profile=services.ProfileInput(
                    **{
                        k: form.cleaned_data[k]
                        for k in ("first_name", "last_name", "phone", "address_line", "postcode", "city")
                    }
                ),
                password=form.cleaned_data["password"],
                password_confirmation=form.cleaned_data["password_confirmation"],
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            login(request, account, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Bienvenue ! Votre espace famille est prêt."))
            return redirect("portal:dashboard")
    return render(request, "portal/activation.html", {"form": form, "invitation": invitation})


def _activation_with_account(request, token, invitation, existing_account) -> HttpResponse:
    if not request.user.is_authenticated:
        login_url = reverse("portal:login") + "?next=" + request.path
        return render(
            request, "portal/activation_sign_in.html", {"invitation": invitation, "login_url": login_url}
        )
    error = None
    if request.method == "POST":
        try:
            activate_family_for_account(commune=request.commune, token=token, account=request.user)
        except FoyerError as exc:
            error = exc
        else:
            messages.success(
                request,
                _("%(commune)s a été ajoutée à votre espace famille.") % {"commune": request.commune.name},
            )
            return redirect("portal:dashboard")
    elif request.user.email != invitation.email:
        error = FoyerError(
            "wrong_account",
            _(
                "Ce lien a été envoyé à une autre adresse e-mail que celle de votre compte. "
                "Déconnectez-vous, puis ouvrez à nouveau le lien."
            ),
            status=403,
        )
    status = error.status if error else 200
    return render(
        request, "portal/activation_confirm.html", {"invitation": invitation, "error": error}, status=status
    )


def _initial_profile(invitation: Invitation) -> dict:
    guardian = invitation.membership.family.guardians.filter(email=invitation.email).first()
    if guardian is None:
        return {}
    return {"first_name": guardian.first_name, "last_name": guardian.last_name, "phone": guardian.phone}


def page_not_found(request, exception=None):
    if "/api/" in request.path_info:
        # An address no API route matches (e.g. /api/factures/-1/): the API's error format.
        return JsonResponse(
            {"code": "not_found", "message": _("Cette ressource n'existe pas."), "extra": {}}, status=404
        )
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


def server_error(request):
    # No context processors: the database or the session may be what failed.
    return HttpResponseServerError(loader.get_template("500.html").render())
