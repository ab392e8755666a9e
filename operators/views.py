"""Operator console (public schema): communes, their provisioning and lifecycle, and the
platform's health. Platform operators only (``operator_required``: 404 for everybody else)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError, apply_errors

from . import selectors, services
from .access import operator_required
from .forms import CommuneSearchForm, DomainForm, ProvisionCommuneForm, SuspendForm
from .health import get_platform_health


@operator_required
def commune_list(request: HttpRequest) -> HttpResponse:
    form = CommuneSearchForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {"q": "", "statut": ""}
    page = selectors.list_commune_overviews(
        search=filters["q"], status=filters["statut"], page=request.GET.get("page")
    )
    return render(
        request,
        "operators/commune_list.html",
        {"form": form, "page": page, "filtered": bool(filters["q"] or filters["statut"])},
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
            return redirect("operators:commune_detail", commune_id=commune.pk)
    return render(request, "operators/commune_form.html", {"form": form})


@operator_required
def commune_detail(request: HttpRequest, commune_id: int) -> HttpResponse:
    return _render_detail(request, commune_id)


def _render_detail(
    request: HttpRequest,
    commune_id: int,
    *,
    suspend_form: SuspendForm | None = None,
    domain_form: DomainForm | None = None,
) -> HttpResponse:
    overview = selectors.get_commune_overview(commune_id=commune_id)
    return render(
        request,
        "operators/commune_detail.html",
        {
            # Not "commune": base.html would take the page for one of the commune's own.
            "overview": overview,
            "operated": overview.commune,
            "suspend_form": suspend_form or SuspendForm(),
            "domain_form": domain_form or DomainForm(),
        },
    )


@operator_required
@require_POST
def commune_suspend(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = selectors.get_commune(commune_id=commune_id)
    form = SuspendForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, commune_id, suspend_form=form)
    try:
        services.suspend_commune(commune=commune, reason=form.cleaned_data["reason"], actor=request.user)
    except FoyerError as error:
        apply_errors(form, error)
        return _render_detail(request, commune_id, suspend_form=form)
    messages.success(request, _("« %(name)s » est suspendue.") % {"name": commune.name})
    return redirect("operators:commune_detail", commune_id=commune.pk)


@operator_required
@require_POST
def commune_reactivate(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = selectors.get_commune(commune_id=commune_id)
    services.reactivate_commune(commune=commune, actor=request.user)
    messages.success(request, _("« %(name)s » est de nouveau ouverte.") % {"name": commune.name})
    return redirect("operators:commune_detail", commune_id=commune.pk)


@operator_required
@require_POST
def commune_domain(request: HttpRequest, commune_id: int) -> HttpResponse:
    commune = selectors.get_commune(commune_id=commune_id)
    form = DomainForm(request.POST)
    form.is_valid()
    try:
        domain = services.change_commune_domain(
            commune=commune,
            domain=form.cleaned_data.get("domain", ""),
            keep_previous=form.cleaned_data.get("keep_previous", False),
            actor=request.user,
        )
    except FoyerError as error:
        apply_errors(form, error)
        return _render_detail(request, commune_id, domain_form=form)
    messages.success(
        request,
        _("%(domain)s est maintenant le domaine principal de « %(name)s ».")
        % {"domain": domain.domain, "name": commune.name},
    )
    return redirect("operators:commune_detail", commune_id=commune.pk)


@operator_required
@require_POST
def commune_domain_remove(request: HttpRequest, commune_id: int, domain_id: int) -> HttpResponse:
    commune = selectors.get_commune(commune_id=commune_id)
    services.remove_commune_domain(commune=commune, domain_id=domain_id, actor=request.user)
    messages.success(request, _("Le domaine est retiré de « %(name)s ».") % {"name": commune.name})
    return redirect("operators:commune_detail", commune_id=commune.pk)


@operator_required
def health(request: HttpRequest) -> HttpResponse:
    return render(request, "operators/health.html", {"health": get_platform_health()})
