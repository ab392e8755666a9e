"""The family's file, corrected by the commune's agents: the family (name, address, home
phone), its guardians and its children. The family is shared by all its communes: the page
says so, and the change is recorded in the audit log (staff_required opens the scope)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from foyer.dates import DateField
from foyer.errors import FoyerError, NotFound, apply_errors
from shared_identity import selectors, services

from .access import staff_required


class DossierFamilyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nom de la famille"), max_length=150)
    address_line = forms.CharField(label=gettext_lazy("Adresse"), max_length=255, required=False)
    postcode = forms.CharField(label=gettext_lazy("Code postal"), max_length=10, required=False)
    city = forms.CharField(label=gettext_lazy("Ville"), max_length=120, required=False)
    home_phone = forms.CharField(label=gettext_lazy("Téléphone du domicile"), max_length=30, required=False)


class DossierGuardianForm(forms.Form):
    first_name = forms.CharField(label=gettext_lazy("Prénom"), max_length=100)
    last_name = forms.CharField(label=gettext_lazy("Nom"), max_length=100)
    email = forms.CharField(label=gettext_lazy("Adresse e-mail"), max_length=254)
    phone = forms.CharField(label=gettext_lazy("Téléphone"), max_length=30, required=False)


class DossierChildForm(forms.Form):
    first_name = forms.CharField(label=gettext_lazy("Prénom"), max_length=100)
    last_name = forms.CharField(label=gettext_lazy("Nom"), max_length=100)
    birth_date = DateField(label=gettext_lazy("Date de naissance"))


def _initial(rows, pk: int | None, fields: tuple[str, ...], missing: str) -> dict:
    """The form's values from the row being corrected (none when adding one)."""
    if pk is None:
        return {}
    row = rows.filter(pk=pk).first()
    if row is None:
        raise NotFound(missing)
    return {name: getattr(row, name) for name in fields}


def _edit(request: HttpRequest, membership, *, form, title: str, save, done: str) -> HttpResponse:
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except FoyerError as error:
            if isinstance(error, NotFound):
                raise
            apply_errors(form, error)
        else:
            messages.success(request, done)
            return redirect(reverse("console:family_detail", args=[membership.pk]) + "#responsables")
    return render(
        request, "console/dossier_edit.html", {"membership": membership, "form": form, "title": title}
    )


@staff_required
@require_http_methods(["GET", "POST"])
def dossier_family(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = selectors.get_family_dossier(commune=request.commune, membership_id=membership_id)
    initial = {
        f: getattr(membership.family, f) for f in ("name", "address_line", "postcode", "city", "home_phone")
    }
    return _edit(
        request,
        membership,
        form=DossierFamilyForm(request.POST or None, initial=initial),
        title=_("Famille, adresse et téléphone"),
        save=lambda data: services.edit_dossier_family(
            commune=request.commune, actor=request.user, membership_id=membership_id, **data
        ),
        done=_("La famille est enregistrée."),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def dossier_guardian(
    request: HttpRequest, membership_id: int, guardian_id: int | None = None
) -> HttpResponse:
    membership = selectors.get_family_dossier(commune=request.commune, membership_id=membership_id)
    fields = ("first_name", "last_name", "email", "phone")
    initial = _initial(membership.family.guardians, guardian_id, fields, _("Ce responsable n'existe pas."))
    return _edit(
        request,
        membership,
        form=DossierGuardianForm(request.POST or None, initial=initial),
        title=_("Modifier un responsable légal") if guardian_id else _("Ajouter un responsable légal"),
        save=lambda data: services.save_dossier_guardian(
            commune=request.commune,
            actor=request.user,
            membership_id=membership_id,
            guardian_id=guardian_id,
            **data,
        ),
        done=_("Le responsable légal est enregistré."),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def dossier_child(request: HttpRequest, membership_id: int, child_id: int | None = None) -> HttpResponse:
    membership = selectors.get_family_dossier(commune=request.commune, membership_id=membership_id)
    fields = ("first_name", "last_name", "birth_date")
    initial = _initial(membership.family.children, child_id, fields, _("Cet enfant n'existe pas."))
    return _edit(
        request,
        membership,
        form=DossierChildForm(request.POST or None, initial=initial),
        title=_("Modifier un enfant") if child_id else _("Ajouter un enfant"),
        save=lambda data: services.save_dossier_child(
            commune=request.commune,
            actor=request.user,
            membership_id=membership_id,
            child_id=child_id,
            **data,
        ),
        done=_("L'enfant est enregistré."),
    )
