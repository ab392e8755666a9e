"""The commune's queue of families asking to join it: accept (linking a dossier the commune
already has, or opening one) or refuse with a reason; the family is told by e-mail."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from family.joining import accept_join_request
from foyer.errors import FoyerError, NotFound, apply_errors
from shared_identity import services
from shared_identity.models import JoinRequest

from .access import staff_required


class AcceptForm(forms.Form):
    dossier_number = forms.CharField(
        label=gettext_lazy("Dossier existant de la commune (numéro, facultatif)"),
        max_length=30,
        required=False,
        help_text=gettext_lazy("Laissé vide, un nouveau dossier est ouvert pour la famille."),
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Motif du refus"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


@staff_required
def join_request_list(request: HttpRequest) -> HttpResponse:
    requests = (
        JoinRequest.objects.filter(commune=request.commune)
        .select_related("family", "account")
        .prefetch_related("children")
        .order_by("status", "-created_at")
    )
    return render(request, "console/join_request_list.html", {"requests": requests})


@staff_required
@require_http_methods(["GET", "POST"])
def join_request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    join_request = (
        JoinRequest.objects.filter(commune=request.commune, pk=request_id)
        .select_related("family", "account", "membership")
        .prefetch_related("children", "family__guardians")
        .first()
    )
    if join_request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    decision = request.POST.get("decision")
    accept_form = AcceptForm(request.POST if decision == "accept" else None)
    refuse_form = RefuseForm(request.POST if decision == "refuse" else None)
    if request.method == "POST":
        try:
            if decision == "accept" and accept_form.is_valid():
                accept_join_request(
                    commune=request.commune,
                    actor=request.user,
                    request_id=join_request.pk,
                    dossier_number=accept_form.cleaned_data["dossier_number"],
                )
                messages.success(
                    request, _("La famille est rattachée à la commune ; elle est prévenue par e-mail.")
                )
                return redirect("console:join_request_list")
            if decision == "refuse" and refuse_form.is_valid():
                services.refuse_join_request(
                    commune=request.commune,
                    actor=request.user,
                    request_id=join_request.pk,
                    reason=refuse_form.cleaned_data["reason"],
                )
                messages.success(request, _("La demande est refusée ; la famille est prévenue par e-mail."))
                return redirect("console:join_request_list")
        except FoyerError as error:
            if isinstance(error, NotFound):
                raise
            apply_errors(accept_form if decision == "accept" else refuse_form, error)
    return render(
        request,
        "console/join_request_detail.html",
        {"join_request": join_request, "accept_form": accept_form, "refuse_form": refuse_form},
    )
