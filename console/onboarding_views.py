"""Console pages of a commune's onboarding (administrators only): the checklist from the
invitation e-mail to "Ouvrir aux familles", and the identity and branding page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError, apply_errors

from .access import staff_required
from .onboarding import get_onboarding_checklist
from .services import LOGO_MAX_BYTES, open_commune, update_commune_identity

admin_only = staff_required(admin_only=True)


@admin_only
def onboarding(request: HttpRequest) -> HttpResponse:
    return _checklist_page(request)


def _checklist_page(
    request: HttpRequest, *, refusal: FoyerError | None = None, status: int = 200
) -> HttpResponse:
    checklist = get_onboarding_checklist(commune=request.commune)
    return render(
        request, "console/onboarding.html", {"checklist": checklist, "refusal": refusal}, status=status
    )


@admin_only
@require_POST
def onboarding_open(request: HttpRequest) -> HttpResponse:
    try:
        commune = open_commune(commune=request.commune, actor=request.user)
    except FoyerError as error:
        if error.code == "already_open":
            messages.info(request, error.message)
            return redirect("console:onboarding")
        return _checklist_page(request, refusal=error, status=error.status)
    request.commune = commune
    messages.success(
        request,
        _("%(name)s est ouverte aux familles : vous pouvez envoyer les liens d'activation.")
        % {"name": commune.name},
    )
    return redirect("console:onboarding")


class IdentityForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Nom affiché aux familles"),
        max_length=120,
        help_text=gettext_lazy(
            "Par exemple « Commune de JolieVille » : en haut de chaque page et sur les factures."
        ),
    )
    sentence_name = forms.CharField(
        label=gettext_lazy("Nom dans une phrase"),
        max_length=150,
        required=False,
        help_text=gettext_lazy(
            "Avec son article, tel qu'une phrase le dit : « la commune de JolieVille », « le syndicat "
            "des écoles ». Les e-mails écrivent « La commune de JolieVille a activé… », « L'équipe de la "
            "commune de JolieVille ». Laissé vide, il est déduit du nom."
        ),
    )
    logo = forms.FileField(
        label=gettext_lazy("Logo"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg"}),
        help_text=gettext_lazy("Image PNG ou JPEG, %(size)s Ko au plus, 2000 pixels de côté au plus.")
        % {"size": LOGO_MAX_BYTES // 1024},
    )
    remove_logo = forms.BooleanField(label=gettext_lazy("Retirer le logo actuel"), required=False)
    brand_colour = forms.CharField(
        label=gettext_lazy("Couleur"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text=gettext_lazy(
            "Couleur de l'en-tête, des liens et des boutons, dont le texte est blanc : choisissez une "
            "couleur assez foncée (contraste d'au moins 4,5:1 avec le blanc)."
        ),
    )
    # Checked by the service, so that one refusal lists every problem of the form.
    contact_email = forms.CharField(
        label=gettext_lazy("E-mail de contact des familles"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=gettext_lazy("Affiché en bas de chaque page de la commune."),
    )
    legal_mentions = forms.CharField(
        label=gettext_lazy("Mentions légales"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy(
            "Responsable de la publication, hébergeur, délégué à la protection des données, droits des "
            "familles sur leurs données. Une page les montre aux familles."
        ),
    )


@admin_only
@require_http_methods(["GET", "POST"])
def identity(request: HttpRequest) -> HttpResponse:
    commune = request.commune
    initial = {
        "name": commune.name,
        "sentence_name": commune.sentence_name,
        "brand_colour": commune.brand_colour,
        "contact_email": commune.contact_email,
        "legal_mentions": commune.legal_mentions,
    }
    form = IdentityForm(request.POST or None, request.FILES or None, initial=initial)
    if not commune.logo:
        del form.fields["remove_logo"]
    if request.method == "POST" and form.is_valid():
        try:
            update_commune_identity(commune=commune, actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("L'identité de la commune est enregistrée."))
            return redirect("console:onboarding" if not commune.is_open else "console:identity")
    return render(request, "console/identity.html", {"form": form})
