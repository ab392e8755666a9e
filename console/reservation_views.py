"""Console pages for reservations: the catalogue (commune administrators), a family's
enrolments and quotient familial, the pointage, mass cancellation and cancellation requests
(every member of the commune's staff)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError, NotFound, apply_errors
from reservations import catalogue_services, services
from reservations import console_selectors as selectors
from shared_identity.models import Membership
from shared_identity.selectors import get_family_dossier

from .access import staff_required
from .reservation_forms import (
    AttendanceFilterForm,
    AttendanceMarkForm,
    ClosureForm,
    DecisionForm,
    EnrolmentForm,
    MassCancellationForm,
    PrestationForm,
    QuotientForm,
    RequestFilterForm,
    SchoolHolidayForm,
    ServiceForm,
    SiteForm,
)

admin_only = staff_required(admin_only=True)


def _form_page(
    request: HttpRequest,
    *,
    form,
    save: Callable[[], Any],
    success: Callable[[Any], str],
    done: str,
    page: Callable[[], HttpResponse],
) -> HttpResponse:
    """A valid POST calls the service, says ``success(saved)`` and goes to ``done`` (a URL or
    its name); otherwise ``page()`` shows the form, with the refusal, keeping what was typed."""
    if request.method == "POST" and form.is_valid():
        try:
            saved = save()
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, success(saved))
            return redirect(done)
    return page()


def _saved(saved) -> str:
    return _("« %(name)s » est enregistré.") % {"name": saved}


def _catalogue_form(request: HttpRequest, *, form, save, done: str, title: str) -> HttpResponse:
    return _form_page(
        request,
        form=form,
        save=save,
        success=_saved,
        done=done,
        page=lambda: render(
            request,
            "console/reservations/catalogue_form.html",
            {"form": form, "title": title, "back": reverse(done)},
        ),
    )


# --- Catalogue: services, sites, prestations -------------------------------------------------------


@admin_only
def service_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/reservations/service_list.html", {"services": selectors.list_services()})


@admin_only
@require_http_methods(["GET", "POST"])
def service_form(request: HttpRequest, service_id: int | None = None) -> HttpResponse:
    service = selectors.get_service(service_id=service_id) if service_id else None
    form = ServiceForm(request.POST or None, service=service)
    return _catalogue_form(
        request,
        form=form,
        save=lambda: catalogue_services.save_service(
            service_id=service_id, data=form.to_input(), actor=request.user
        ),
        done="console:service_list",
        title=service.name if service else _("Nouveau service"),
    )


@admin_only
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/reservations/site_list.html", {"sites": selectors.list_sites()})


@admin_only
@require_http_methods(["GET", "POST"])
def site_form(request: HttpRequest, site_id: int | None = None) -> HttpResponse:
    site = selectors.get_site(site_id=site_id) if site_id else None
    form = SiteForm(request.POST or None, site=site)
    return _catalogue_form(
        request,
        form=form,
        save=lambda: catalogue_services.save_site(site_id=site_id, data=form.to_input(), actor=request.user),
        done="console:site_list",
        title=site.name if site else _("Nouveau site"),
    )


@admin_only
def prestation_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "console/reservations/prestation_list.html", {"prestations": selectors.list_prestations()}
    )


@admin_only
@require_http_methods(["GET", "POST"])
def prestation_form(request: HttpRequest, prestation_id: int | None = None) -> HttpResponse:
    prestation = selectors.get_prestation(prestation_id=prestation_id) if prestation_id else None
    form = PrestationForm(request.POST or None, prestation=prestation)
    return _form_page(
        request,
        form=form,
        save=lambda: catalogue_services.save_prestation(
            prestation_id=prestation_id, data=form.to_input(), actor=request.user
        ),
        success=_saved,
        done="console:prestation_list",
        page=lambda: render(
            request,
            "console/reservations/prestation_form.html",
            {"form": form, "title": prestation.label if prestation else _("Nouvelle prestation")},
        ),
    )


# --- Catalogue: calendar ---------------------------------------------------------------------------


def _calendar_page(
    request: HttpRequest,
    *,
    closure_form: ClosureForm | None = None,
    holiday_form: SchoolHolidayForm | None = None,
) -> HttpResponse:
    return render(
        request,
        "console/reservations/calendar.html",
        {
            "closure_form": closure_form or ClosureForm(prefix="fermeture"),
            "holiday_form": holiday_form or SchoolHolidayForm(prefix="vacances"),
            "closures": selectors.list_closures(),
            "holidays": selectors.list_school_holidays(),
        },
    )


@admin_only
def calendar(request: HttpRequest) -> HttpResponse:
    """Closures and school holidays, each with a form to add one."""
    return _calendar_page(request)


@admin_only
@require_POST
def closure_add(request: HttpRequest) -> HttpResponse:
    form = ClosureForm(request.POST, prefix="fermeture")
    return _form_page(
        request,
        form=form,
        save=lambda: catalogue_services.add_closure(
            day=form.cleaned_data["date"],
            site_id=form.cleaned_data["site"].pk if form.cleaned_data["site"] else None,
            reason=form.cleaned_data["reason"],
            actor=request.user,
        ),
        success=lambda closure: (
            _("La fermeture du %(date)s est ajoutée.") % {"date": closure.date.strftime("%d/%m/%Y")}
        ),
        done="console:calendar",
        page=lambda: _calendar_page(request, closure_form=form),
    )


@admin_only
@require_POST
def holiday_add(request: HttpRequest) -> HttpResponse:
    form = SchoolHolidayForm(request.POST, prefix="vacances")
    return _form_page(
        request,
        form=form,
        save=lambda: catalogue_services.add_school_holiday(actor=request.user, **form.cleaned_data),
        success=_saved,
        done="console:calendar",
        page=lambda: _calendar_page(request, holiday_form=form),
    )


@admin_only
@require_POST
def closure_delete(request: HttpRequest, closure_id: int) -> HttpResponse:
    catalogue_services.delete_closure(closure_id=closure_id, actor=request.user)
    messages.success(request, _("La fermeture est supprimée."))
    return redirect("console:calendar")


@admin_only
@require_POST
def holiday_delete(request: HttpRequest, holiday_id: int) -> HttpResponse:
    catalogue_services.delete_school_holiday(holiday_id=holiday_id, actor=request.user)
    messages.success(request, _("La période de vacances est supprimée."))
    return redirect("console:calendar")


# --- A family's dossier: enrolments and quotient familial ------------------------------------------


def family_page(
    request: HttpRequest,
    membership: Membership,
    *,
    enrolment_form: EnrolmentForm | None = None,
    quotient_form: QuotientForm | None = None,
) -> HttpResponse:
    """The family dossier page: every section (console.dossier), with the enrolment and
    quotient familial forms (console/family_detail.html)."""
    from .dossier import get_family_dossier_page

    family = membership.family
    dossier = get_family_dossier_page(membership=membership)
    return render(
        request,
        "console/family_detail.html",
        {
            "membership": membership,
            "dossier": dossier,
            "reservations": dossier.reservations,
            "enrolment_form": enrolment_form or EnrolmentForm(family=family),
            "quotient_form": quotient_form or QuotientForm(),
        },
    )


@staff_required
def family_reservations(request: HttpRequest, membership_id: int) -> HttpResponse:
    return family_page(request, get_family_dossier(commune=request.commune, membership_id=membership_id))


@staff_required
@require_POST
def enrolment_create(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_family_dossier(commune=request.commune, membership_id=membership_id)
    form = EnrolmentForm(request.POST, family=membership.family)
    return _form_page(
        request,
        form=form,
        save=lambda: services.enrol_child(actor=request.user, **form.cleaned_data),
        success=lambda enrolment: (
            _("%(child)s est inscrit(e) : %(service)s, %(site)s.")
            % {
                "child": form.cleaned_data["child"],
                "service": form.cleaned_data["service"],
                "site": form.cleaned_data["site"],
            }
        ),
        done=reverse("console:family_reservations", args=[membership.pk]),
        page=lambda: family_page(request, membership, enrolment_form=form),
    )


@staff_required
@require_POST
def quotient_set(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_family_dossier(commune=request.commune, membership_id=membership_id)
    form = QuotientForm(request.POST)
    return _form_page(
        request,
        form=form,
        save=lambda: catalogue_services.set_quotient_familial(
            family=membership.family, actor=request.user, **form.cleaned_data
        ),
        success=lambda quotient: (
            _("Quotient familial %(value)d à partir du %(date)s : enregistré.")
            % {"value": quotient.value, "date": quotient.valid_from.strftime("%d/%m/%Y")}
        ),
        done=reverse("console:family_reservations", args=[membership.pk]),
        page=lambda: family_page(request, membership, quotient_form=form),
    )


# --- Pointage --------------------------------------------------------------------------------------


@staff_required
def attendance(request: HttpRequest) -> HttpResponse:
    """Pick a day, a site and a prestation; the list of children to point (?imprimer=1: to print)."""
    today = timezone.now().astimezone(ZoneInfo(request.commune.timezone)).date()
    form = AttendanceFilterForm(request.GET or None, initial={"jour": today})
    sheet = None
    if form.is_valid():
        data = form.cleaned_data
        sheet = selectors.get_attendance_sheet(
            prestation=data["prestation"], site=data["site"], day=data["jour"]
        )
    context = {
        "form": form,
        "sheet": sheet,
        "query": form.query() if sheet else "",
        # A day to come is shown, never pointed (reservations.services.mark_attendance).
        "future": sheet is not None and sheet.day > today,
    }
    if sheet and request.GET.get("imprimer"):
        return render(request, "console/reservations/attendance_print.html", context)
    return render(request, "console/reservations/attendance.html", context)


@staff_required
@require_POST
def attendance_mark(request: HttpRequest) -> HttpResponse:
    form = AttendanceMarkForm(request.POST)
    if not form.is_valid():
        raise NotFound()
    data = form.cleaned_data
    where = {"prestation": data["prestation"], "site": data["site"], "day": data["jour"]}
    child = selectors.get_attendance_child(child_id=data["enfant"], **where)
    try:
        booking = services.mark_attendance(child=child, status=data["statut"], actor=request.user, **where)
    except FoyerError as error:
        messages.error(request, f"{child} : {error.message}")
    else:
        messages.success(request, f"{child} : {booking.get_status_display()}")
    return redirect(f"{reverse('console:attendance')}?{form.query()}#enfant-{child.pk}")


# --- Mass cancellation -----------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def mass_cancellation(request: HttpRequest) -> HttpResponse:
    """Form → preview (how many bookings and families) → confirm → reservations.services.mass_cancel."""
    form = MassCancellationForm(request.POST or None)
    if request.method == "POST" and "modifier" not in request.POST and form.is_valid():
        data = form.cleaned_data
        where = {"site": data["site"], "day": data["date"], "prestation": data["prestation"]}
        if "confirmer" not in request.POST:
            return render(
                request,
                "console/reservations/mass_cancellation_confirm.html",
                {"form": form, "preview": selectors.preview_mass_cancellation(**where)},
            )
        try:
            count = services.mass_cancel(reason=data["reason"], actor=request.user, **where)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)d réservation annulée ; la famille est prévenue par e-mail.",
                    "%(count)d réservations annulées ; les familles sont prévenues par e-mail.",
                    count,
                )
                % {"count": count},
            )
            return redirect("console:mass_cancellation")
    return render(request, "console/reservations/mass_cancellation.html", {"form": form})


# --- Cancellation requests -------------------------------------------------------------------------


@staff_required
def cancellation_request_list(request: HttpRequest) -> HttpResponse:
    form = RequestFilterForm(request.GET or None)
    status = form.cleaned_data["statut"] if form.is_valid() else ""
    page = Paginator(selectors.list_cancellation_requests(status=status), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "console/reservations/cancellation_request_list.html",
        {"form": form, "page": page, "status": status},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def cancellation_request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    """The request, and while it is pending, the decision form."""
    cancellation = selectors.get_cancellation_request(request_id=request_id)
    pending = cancellation.status == cancellation.Status.PENDING
    form = DecisionForm(request.POST or None, request=cancellation) if pending else None

    def page() -> HttpResponse:
        return render(
            request,
            "console/reservations/cancellation_request_detail.html",
            {
                "cancellation": cancellation,
                "form": form,
                "credit_allowed": services.credit_allowed(cancellation),
            },
        )

    if form is None:
        return page()
    return _form_page(
        request,
        form=form,
        save=lambda: services.decide_cancellation_request(
            request_id=cancellation.pk, actor=request.user, **form.to_kwargs()
        ),
        success=lambda decided: _("La décision est enregistrée ; la famille est prévenue par e-mail."),
        done="console:cancellation_request_list",
        page=page,
    )


@staff_required
def cancellation_request_attachment(request: HttpRequest, request_id: int) -> FileResponse:
    """The family's attachment, streamed to the commune's staff only (never a public URL)."""
    attachment = selectors.get_cancellation_attachment(request_id=request_id)
    try:
        stream = attachment.open("rb")
    except FileNotFoundError:
        raise NotFound() from None
    response = FileResponse(
        stream,
        as_attachment=True,
        filename=f"justificatif-{request_id}{PurePath(attachment.name).suffix}",
    )
    response["Cache-Control"] = "private, no-store"
    return response
