"""Console pages for families: the CSV import from the commune's previous software (upload →
preview → import → activation links), and activation links sent to many dossiers at once.

Every agent of the commune may use them, not only its administrators: they are the bulk form
of "Créer un dossier famille" and of "Renvoyer le lien d'activation", which agents already do
one by one."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from family import imports
from family.imports import Action, ImportRefused
from foyer.errors import FoyerError, apply_errors
from shared_identity import selectors
from shared_identity.models import Membership

from .access import staff_required

# The preview lists at most this many dossiers of each kind, and this many errors.
SHOWN = 300


class ImportUploadForm(forms.Form):
    fichier = forms.FileField(
        label=gettext_lazy("Fichier CSV des familles"),
        help_text=gettext_lazy("Séparateur point-virgule ou virgule ; UTF-8 ou Windows-1252."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def family_import(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            token = imports.store_family_import(
                commune=request.commune, actor=request.user, upload=form.cleaned_data["fichier"]
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            return redirect("console:family_import_preview", token=token)
    return render(
        request,
        "console/family_import.html",
        {
            "form": form,
            "columns": imports.COLUMNS,
            "max_size": imports.MAX_BYTES // (1024 * 1024),
            "max_lines": imports.MAX_LINES,
        },
    )


def _render_preview(request: HttpRequest, stored, preview) -> HttpResponse:
    return render(
        request,
        "console/family_import_preview.html",
        {
            "stored": stored,
            "preview": preview,
            "counts": preview.counts,
            "shown": SHOWN,
            "errors": preview.errors[:SHOWN],
            "sections": [
                (
                    action,
                    label,
                    preview.by_action(action)[:SHOWN],
                    preview.count(action),
                )
                for action, label in (
                    (Action.CREATE, _("Dossiers à créer")),
                    (Action.UPDATE, _("Dossiers à mettre à jour")),
                    (
                        Action.KEPT,
                        _("Dossiers tenus par la famille : les différences ne seront pas importées"),
                    ),
                    (Action.INVALID, _("Dossiers en erreur")),
                )
            ],
            "valid_count": preview.writes + preview.count(Action.UNCHANGED) + preview.count(Action.KEPT),
        },
    )


@staff_required
def family_import_preview(request: HttpRequest, token: str) -> HttpResponse:
    stored = imports.get_family_import(commune=request.commune, actor=request.user, token=token)
    if stored.result is not None:
        return redirect("console:family_import_result", token=token)
    preview = imports.preview_family_import(commune=request.commune, data=stored.data)
    return _render_preview(request, stored, preview)


@staff_required
@require_POST
def family_import_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        imports.confirm_family_import(
            commune=request.commune,
            actor=request.user,
            token=token,
            valid_only=request.POST.get("mode") == "valid",
        )
    except ImportRefused as refused:
        messages.error(request, refused.message)
        stored = imports.get_family_import(commune=request.commune, actor=request.user, token=token)
        return _render_preview(request, stored, refused.preview)
    except FoyerError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
        return redirect("console:family_import_preview", token=token)
    return redirect("console:family_import_result", token=token)


@staff_required
def family_import_result(request: HttpRequest, token: str) -> HttpResponse:
    stored = imports.get_family_import(commune=request.commune, actor=request.user, token=token)
    if stored.result is None:
        return redirect("console:family_import_preview", token=token)
    never_invited = imports.list_never_invited(
        commune=request.commune, membership_ids=stored.result.membership_ids
    )
    return render(
        request,
        "console/family_import_result.html",
        {"stored": stored, "result": stored.result, "never_invited": len(never_invited)},
    )


@staff_required
@require_POST
def family_import_invitations(request: HttpRequest, token: str) -> HttpResponse:
    """The activation links of the dossiers of this import that never had one."""
    stored = imports.get_family_import(commune=request.commune, actor=request.user, token=token)
    if stored.result is None:
        return redirect("console:family_import_preview", token=token)
    ids = imports.list_never_invited(commune=request.commune, membership_ids=stored.result.membership_ids)
    if not ids:
        messages.info(request, _("Tous les dossiers de cet import ont déjà reçu un lien d'activation."))
        return redirect("console:family_import_result", token=token)
    outcome = imports.request_family_invitations(
        commune=request.commune, actor=request.user, membership_ids=ids
    )
    messages.success(request, _outcome_message(outcome))
    return redirect(_family_list_url(activation=""))


@staff_required
@require_POST
def family_bulk_activation(request: HttpRequest) -> HttpResponse:
    """Send or send again the activation link of the dossiers ticked in the list, or of every
    dossier of the list (its search and filter) not activated yet."""
    search = request.POST.get("q", "").strip()
    activation = request.POST.get("activation", "")
    if activation not in selectors.ActivationStatus.values:
        activation = ""
    back = _family_list_url(search=search, activation=activation)
    if request.POST.get("scope") == "filtered":
        ids = list(
            selectors.list_family_dossiers(commune=request.commune, search=search, activation=activation)
            .filter(status=Membership.Status.INVITED)
            .values_list("pk", flat=True)
        )
        if not ids:
            messages.error(request, _("Aucun dossier de cette liste n'attend son activation."))
            return redirect(back)
    else:
        ids = [int(value) for value in request.POST.getlist("membership") if value.isdecimal()]
    try:
        outcome = imports.request_family_invitations(
            commune=request.commune, actor=request.user, membership_ids=ids
        )
    except FoyerError as error:
        messages.error(request, error.message)
    else:
        if outcome.queued:
            messages.success(request, _outcome_message(outcome))
        else:
            messages.error(request, _("Les dossiers cochés sont déjà activés : aucun lien n'est parti."))
    return redirect(back)


def _family_list_url(*, search: str = "", activation: str = "") -> str:
    query = urlencode({key: value for key, value in (("q", search), ("activation", activation)) if value})
    return reverse("console:family_list") + (f"?{query}" if query else "")


def _outcome_message(outcome: imports.BulkInvitationRequest) -> str:
    text = ngettext(
        "Le lien d'activation part vers %(count)s dossier (valable %(hours)s heures) : "
        "la colonne « Activation » suit son envoi.",
        "Les liens d'activation partent vers %(count)s dossiers (valables %(hours)s heures) : "
        "la colonne « Activation » suit leur envoi.",
        outcome.queued,
    ) % {"count": outcome.queued, "hours": settings.FOYER_ACTIVATION_LINK_HOURS}
    if outcome.already_active:
        text += " " + ngettext(
            "%(count)s dossier déjà activé n'a rien reçu.",
            "%(count)s dossiers déjà activés n'ont rien reçu.",
            outcome.already_active,
        ) % {"count": outcome.already_active}
    return text
