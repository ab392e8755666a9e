"""Operator console (public schema): communes and their provisioning."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError
from portal.forms import apply_errors
from tenants import services
from tenants.models import Commune
from tenants.selectors import list_communes

from .access import operator_required
from .forms import ProvisionCommuneForm, SuspendForm


@operator_required
def commune_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    communes = list_communes(search=search).annotate(
        families=Count("memberships", filter=Q(memberships__status="active"))
    )
    return render(
        request,
        "operators/commune_list.html",
        {"communes": communes, "search": search, "suspend_form": SuspendForm()},
    )


@operator_required
@require_http_methods(["GET", "POST"])
def commune_create(request: HttpRequest) -> HttpResponse:
    form = ProvisionCommuneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            commune = services.provision_commune(actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _("La commune « %(name)s » est créée ; son administrateur est invité.")
                % {"name": commune.name},
            )
            return redirect("operators:commune_list")
    return render(request, "operators/commune_form.html", {"form": form})


@operator_required
@require_POST
def commune_suspend(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = get_object_or_404(Commune, pk=commune_id)
    form = SuspendForm(request.POST)
    try:
        services.suspend_commune(commune=commune, reason=form.data.get("reason", ""), actor=request.user)
    except FoyerError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("« %(name)s » est suspendue.") % {"name": commune.name})
    return redirect("operators:commune_list")


@operator_required
@require_POST
def commune_reactivate(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = get_object_or_404(Commune, pk=commune_id)
    services.reactivate_commune(commune=commune, actor=request.user)
    messages.success(request, _("« %(name)s » est de nouveau ouverte.") % {"name": commune.name})
    return redirect("operators:commune_list")
