"""The account pages: "Mon compte" (e-mail preferences, login e-mail, password, calendar
feed, data rights), "Informations profil" (family, address with a proof, guardians,
children), the second guardian's invitation link, and the private iCal feed."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from family import address, data_rights, router
from family.ical import family_calendar
from foyer.errors import FoyerError, apply_errors
from foyer.formatting import format_money
from shared_identity import selectors, services
from shared_identity.forms import ProfileForm, StaffAccountForm
from shared_identity.models import Family

from .forms import (
    AccountDeletionForm,
    AddressChangeForm,
    ApiTokenForm,
    EmailChangeForm,
    FamilyForm,
    GuardianInvitationForm,
)
from .reservation_forms import AccountSettingsForm


def _families(request: HttpRequest):
    return Family.objects.filter(guardians__account=request.user).distinct().order_by("pk")


# --- "Mon compte" ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    form = AccountSettingsForm(
        request.POST or None,
        initial={field: getattr(request.user, field) for field in AccountSettingsForm.KINDS},
    )
    if request.method == "POST" and form.is_valid():
        services.set_notification_preferences(account=request.user, preferences=form.preferences())
        messages.success(request, _("Vos préférences sont enregistrées."))
        return redirect("portal:account")
    return _render_account(request, form=form)


def _render_account(
    request: HttpRequest, *, form=None, export_error: FoyerError | None = None, token_form=None
) -> HttpResponse:
    account = request.user
    # A new API key is shown once: on the page that follows its creation, never again.
    new_key = request.session.pop(NEW_KEY_SESSION, None)
    response = render(
        request,
        "portal/account.html",
        {
            "token_form": token_form or ApiTokenForm(),
            "tokens": selectors.list_personal_api_tokens(account),
            "new_key": new_key,
            "form": form
            or AccountSettingsForm(initial={f: getattr(account, f) for f in AccountSettingsForm.KINDS}),
            "families": _families(request),
            "email_change": selectors.get_open_email_change(account),
            "exports": selectors.list_data_exports(account),
            "deletion": selectors.get_pending_deletion(account),
        },
    )
    if new_key:
        response["Cache-Control"] = "private, no-store"
    return response


# --- Personal API keys --------------------------------------------------------------------------------

NEW_KEY_SESSION = "new_api_key"


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = services.create_personal_api_token(
                actor=request.user, name=form.cleaned_data["name"]
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            request.session[NEW_KEY_SESSION] = {"name": token.name, "key": raw}
            return redirect(reverse("portal:account") + "#cles-api")
    return _render_account(request, token_form=form)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = services.revoke_personal_api_token(actor=request.user, token_id=token_id)
    messages.success(
        request, _("La clé « %(name)s » est révoquée : elle n'ouvre plus rien.") % {"name": token.name}
    )
    return redirect(reverse("portal:account") + "#cles-api")


# --- "Informations profil" -------------------------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return _render_profile(request)


def _render_profile(request: HttpRequest, *, identity_form=None, bound: dict | None = None) -> HttpResponse:
    """The profile page; `bound` = {(family_id, "family"|"address"|"invite"): form} re-shows a
    refused form with what the person typed."""
    account = request.user
    bound = bound or {}
    families = []
    for family in selectors.list_families_of(account):
        invitation = family.open_guardian_invitations[0] if family.open_guardian_invitations else None
        families.append(
            {
                "family": family,
                "guardians": list(family.guardians.all()),
                "children": list(family.children.all()),
                "memberships": list(family.memberships.all()),
                "invitation": invitation,
                "can_invite": len(family.guardians.all()) < services.MAX_GUARDIANS
                or any(g.account_id is None for g in family.guardians.all()),
                "family_form": bound.get((family.pk, "family"))
                or FamilyForm(
                    initial={"name": family.name, "home_phone": family.home_phone}, prefix=f"f{family.pk}"
                ),
                "address_form": bound.get((family.pk, "address"))
                or AddressChangeForm(prefix=f"a{family.pk}"),
                "invite_form": bound.get((family.pk, "invite"))
                or GuardianInvitationForm(prefix=f"g{family.pk}"),
            }
        )
    return render(
        request,
        "portal/account_profile.html",
        {
            "identity_form": identity_form
            or ProfileForm(
                initial={
                    "first_name": account.first_name,
                    "last_name": account.last_name,
                    "phone": account.phone,
                }
            ),
            "families": families,
        },
    )


@login_required
@require_POST
def profile_identity(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            services.update_my_identity(actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Vos informations sont enregistrées."))
            return redirect("portal:profile")
    return _render_profile(request, identity_form=form)


@login_required
@require_POST
def profile_family(request: HttpRequest, family_id: int) -> HttpResponse:
    selectors.get_family_for_account(request.user, family_id)
    form = FamilyForm(request.POST, prefix=f"f{family_id}")
    if form.is_valid():
        try:
            services.update_family(actor=request.user, family_id=family_id, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Les informations de la famille sont enregistrées."))
            return redirect("portal:profile")
    return _render_profile(request, bound={(family_id, "family"): form})


@login_required
@require_POST
def profile_address(request: HttpRequest, family_id: int) -> HttpResponse:
    selectors.get_family_for_account(request.user, family_id)
    form = AddressChangeForm(request.POST, request.FILES, prefix=f"a{family_id}")
    if form.is_valid():
        try:
            change = address.change_family_address(
                actor=request.user,
                family_id=family_id,
                address=services.AddressInput(
                    address_line=form.cleaned_data["address_line"],
                    postcode=form.cleaned_data["postcode"],
                    city=form.cleaned_data["city"],
                ),
                proof=form.cleaned_data["proof"],
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, change.summary())
            return redirect("portal:profile")
    return _render_profile(request, bound={(family_id, "address"): form})


@login_required
@require_POST
def guardian_invite(request: HttpRequest, family_id: int) -> HttpResponse:
    selectors.get_family_for_account(request.user, family_id)
    form = GuardianInvitationForm(request.POST, prefix=f"g{family_id}")
    if form.is_valid():
        try:
            invitation = services.invite_guardian(
                actor=request.user, family_id=family_id, email=form.cleaned_data["email"]
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _("Invitation envoyée à %(email)s : le lien est valable 72 heures.")
                % {"email": invitation.email},
            )
            return redirect("portal:profile")
    return _render_profile(request, bound={(family_id, "invite"): form})


@login_required
@require_POST
def guardian_invite_cancel(request: HttpRequest, family_id: int) -> HttpResponse:
    services.cancel_guardian_invitation(actor=request.user, family_id=family_id)
    messages.success(request, _("L'invitation est annulée : son lien ne fonctionne plus."))
    return redirect("portal:profile")


@require_http_methods(["GET", "POST"])
def guardian_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the second guardian's e-mail: create an account, or sign in with one."""
    try:
        invitation = selectors.get_guardian_invitation_for_token(token=token)
    except FoyerError as error:
        return render(request, "portal/activation_error.html", {"error": error}, status=error.status)
    context = {"invitation": invitation, "family": invitation.family}
    existing = selectors.get_account_by_email(invitation.email)
    if request.user.is_authenticated or existing is not None:
        if not request.user.is_authenticated:
            context["login_url"] = reverse("portal:login") + "?next=" + request.path
            return render(request, "portal/guardian_invitation_sign_in.html", context)
        error = None
        if request.method == "POST":
            try:
                services.accept_guardian_invitation_for_account(token=token, account=request.user)
            except FoyerError as exc:
                error = exc
            else:
                messages.success(
                    request,
                    _("Vous êtes maintenant responsable de la famille %(name)s.")
                    % {"name": invitation.family.name},
                )
                return redirect("portal:dashboard")
        elif request.user.email.lower() != invitation.email:
            error = FoyerError(
                "wrong_account",
                _(
                    "Cette invitation a été envoyée à une autre adresse e-mail que celle de votre compte. "
                    "Déconnectez-vous, puis ouvrez à nouveau le lien."
                ),
                status=403,
            )
        context["error"] = error
        return render(
            request, "portal/guardian_invitation_confirm.html", context, status=error.status if error else 200
        )
    form = StaffAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.accept_guardian_invitation_with_new_account(
                token=token,
                profile=services.ProfileInput(
                    first_name=form.cleaned_data["first_name"],
                    last_name=form.cleaned_data["last_name"],
                    phone=form.cleaned_data["phone"],
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
    context["form"] = form
    return render(request, "portal/guardian_invitation.html", context)


# --- The login e-mail ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def email_change(request: HttpRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change = services.request_email_change(actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Un lien de confirmation est envoyé à %(email)s (valable 24 heures). "
                    "Votre adresse de connexion change quand vous l'ouvrez."
                )
                % {"email": change.new_email},
            )
            return redirect("portal:account")
    return render(
        request,
        "portal/account_email.html",
        {"form": form, "email_change": selectors.get_open_email_change(request.user)},
    )


@login_required
@require_POST
def email_change_cancel(request: HttpRequest) -> HttpResponse:
    services.cancel_email_change(actor=request.user)
    messages.success(request, _("Le changement d'adresse e-mail est annulé."))
    return redirect("portal:account")


@require_http_methods(["GET", "POST"])
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the link shows a button (mail scanners that follow links change nothing)."""
    try:
        change = selectors.get_email_change_for_token(token=token)
        if request.method == "POST":
            account = services.confirm_email_change(token=token)
            if request.user.is_authenticated and request.user.pk == account.pk:
                messages.success(
                    request,
                    _("Votre adresse de connexion est maintenant %(email)s.") % {"email": account.email},
                )
                return redirect("portal:account")
            return render(request, "portal/account_email_confirmed.html", {"email": account.email})
    except FoyerError as error:
        return render(request, "portal/activation_error.html", {"error": error}, status=error.status)
    return render(request, "portal/account_email_confirm.html", {"change": change})


# --- Data rights ------------------------------------------------------------------------------------


@login_required
@require_POST
def data_export_request(request: HttpRequest) -> HttpResponse:
    data_rights.request_data_export(actor=request.user)
    messages.success(
        request,
        _(
            "Votre archive est en préparation. Vous recevrez un e-mail quand elle sera prête ; "
            "elle restera téléchargeable 7 jours depuis cette page."
        ),
    )
    return redirect(reverse("portal:account") + "#donnees")


@login_required
def data_export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    return data_export_file(request.user, export_id)


def data_export_file(account, export_id: int) -> FileResponse:
    """The account's data export as a private download (the page's and the API's)."""
    export = selectors.get_data_export_for_account(account, export_id)
    try:
        handle = storages["attachments"].open(export.file_name, "rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    filename = f"foyer-mes-donnees-{timezone.localtime(export.ready_at):%Y-%m-%d}.zip"
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_deletion(request: HttpRequest) -> HttpResponse:
    form = AccountDeletionForm(request.POST or None)
    deletion = selectors.get_pending_deletion(request.user)
    if request.method == "POST" and form.is_valid():
        try:
            deletion, open_invoices = data_rights.request_account_deletion(
                actor=request.user,
                password=form.cleaned_data["password"],
                confirmed=form.cleaned_data["confirmed"],
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            if deletion.status == deletion.Status.COMPLETED:
                logout(request)
                return render(request, "portal/account_deleted.html")
            messages.warning(request, _deletion_pending_message(open_invoices))
            return redirect("portal:account_deletion")
    open_invoices = router.list_open_invoices_of(request.user) if deletion else []
    return render(
        request,
        "portal/account_deletion.html",
        {"form": form, "deletion": deletion, "open_invoices": open_invoices},
    )


def _deletion_pending_message(open_invoices) -> str:
    listed = "; ".join(
        _("%(commune)s, facture %(reference)s : %(amount)s à payer avant le %(due)s")
        % {
            "commune": invoice.commune.name,
            "reference": invoice.reference,
            "amount": format_money(invoice.amount_due),
            "due": invoice.due_date.strftime("%d/%m/%Y") if invoice.due_date else "—",
        }
        for invoice in open_invoices
    )
    return _(
        "Votre demande de suppression est enregistrée, mais des factures restent à payer (%(invoices)s). "
        "Votre compte sera supprimé automatiquement dans la nuit qui suit le paiement de la dernière."
    ) % {"invoices": listed}


@login_required
@require_POST
def account_deletion_cancel(request: HttpRequest) -> HttpResponse:
    data_rights.cancel_account_deletion(actor=request.user)
    messages.success(request, _("Votre demande de suppression est annulée : votre compte est conservé."))
    return redirect("portal:account")


# --- Calendar feed ----------------------------------------------------------------------------------


@login_required
@require_POST
def calendar_link(request: HttpRequest, family_id: int) -> HttpResponse:
    family = _families(request).filter(pk=family_id).first()
    if family is None:
        raise Http404
    if request.POST.get("action") == "revoke":
        services.revoke_calendar_token(family=family)
        messages.success(request, _("Le lien du calendrier est désactivé."))
    else:
        services.rotate_calendar_token(family=family)
        messages.success(request, _("Nouveau lien de calendrier créé : l'ancien ne fonctionne plus."))
    return redirect("portal:account")


def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    family = Family.objects.filter(ical_token=token).first() if token else None
    if family is None:
        raise Http404
    today = timezone.localdate()
    body = family_calendar(
        family=family, start=today - dt.timedelta(days=60), end=today + dt.timedelta(days=366)
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="foyer.ics"'
    response["Cache-Control"] = "private, max-age=900"
    return response
