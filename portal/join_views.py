"""Join another commune on the family's initiative ("adhérer à d'autres collectivités")."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError, apply_errors
from shared_identity import selectors, services
from shared_identity.models import JoinRequest


class JoinForm(forms.Form):
    commune = forms.TypedChoiceField(label=gettext_lazy("Commune"), coerce=int)
    children = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Enfants concernés"), coerce=int, widget=forms.CheckboxSelectMultiple
    )
    dossier_number = forms.CharField(
        label=gettext_lazy("Numéro de dossier (facultatif)"),
        max_length=30,
        required=False,
        help_text=gettext_lazy("Si la commune vous en a déjà donné un."),
    )
    message = forms.CharField(
        label=gettext_lazy("Message à la commune (facultatif)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, communes, children, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commune"].choices = [("", _("— choisir —")), *((c.pk, c.name) for c in communes)]
        self.fields["children"].choices = [(c.pk, f"{c.first_name} {c.last_name}") for c in children]


@login_required
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    family = selectors.list_families_of(request.user).first()
    if family is None:
        messages.error(request, _("Votre compte n'est rattaché à aucune famille."))
        return redirect("portal:dashboard")
    communes = services.joinable_communes(family)
    children = list(family.children.all())
    form = None
    if communes:
        form = JoinForm(
            request.POST or None,
            communes=communes,
            children=children,
            initial={"children": [c.pk for c in children]},
        )
        if request.method == "POST" and form.is_valid():
            try:
                join_request = services.request_to_join(
                    account=request.user,
                    family_id=family.pk,
                    commune_id=form.cleaned_data["commune"],
                    child_ids=form.cleaned_data["children"],
                    dossier_number=form.cleaned_data["dossier_number"],
                    message=form.cleaned_data["message"],
                )
            except FoyerError as error:
                apply_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Votre demande est envoyée à %(commune)s : vous recevrez sa réponse par e-mail.")
                    % {"commune": join_request.commune.name},
                )
                return redirect("portal:join")
    requests = JoinRequest.objects.filter(family=family).select_related("commune")
    return render(request, "portal/join.html", {"form": form, "requests": requests})


@login_required
@require_POST
def join_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        services.cancel_join_request(account=request.user, request_id=request_id)
    except FoyerError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    else:
        messages.success(request, _("Votre demande d'adhésion est retirée."))
    return redirect("portal:join")
