"""Family pages for reservations: the week view of all communes, the period view, the cart,
cancellations and cancellation requests, the calendar feed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from family.router import (
    FamilyScope,
    build_week,
    build_weeks,
    get_family_child_in,
    get_family_communes,
    get_family_scope,
    get_family_scope_in,
    list_family_carts,
    list_held_carts,
    read_family_reservations,
)
from foyer.dates import parse_date
from foyer.errors import FoyerError, NotFound, apply_errors
from foyer.formatting import format_day
from reservations import services
from reservations.opening import week_start
from shared_identity.access import next_of, safe_next
from tenants.context import commune_context

from .billing_views import pay_carts
from .reservation_forms import AbsenceForm, CancellationRequestForm, CartItemForm, PeriodForm, WeekItemForm


def _today() -> dt.date:
    return timezone.localdate()


def _back(request: HttpRequest, default: str) -> HttpResponse:
    return redirect(safe_next(request, next_of(request), default))


@login_required
def week(request: HttpRequest) -> HttpResponse:
    scope = get_family_scope(request.user)
    day = parse_date(request.GET.get("semaine"))
    if day is None:
        if request.GET.get("semaine"):
            messages.error(request, _("Date de semaine invalide : voici la semaine en cours."))
        day = _today()
    slugs = {commune.slug for commune in scope.communes}
    commune_slug = request.GET.get("commune", "")
    commune_slug = commune_slug if commune_slug in slugs else ""
    child_ids = [int(v) for v in request.GET.getlist("enfant") if v.isdecimal()]
    filters = {"service": request.GET.get("service", ""), "site": request.GET.get("site", "")}
    week_data = build_week(scope=scope, day=day, commune_slug=commune_slug, child_ids=child_ids, **filters)
    query = request.GET.copy()
    query.pop("semaine", None)
    return render(
        request,
        "portal/reservations/week.html",
        {
            "week": week_data,
            "scope": scope,
            "commune_slug": commune_slug,
            "child_ids": child_ids,
            "today": _today(),
            "filters": filters,
            "query": query.urlencode(),
            "query_items": [(key, query.getlist(key)) for key in query],
        },
    )


def _period_choices(scope: FamilyScope) -> tuple[list, list, dict]:
    today = _today()
    data = read_family_reservations(
        communes=scope.open_communes,
        family_ids=scope.family_ids,
        child_ids=[c.pk for c in scope.children],
        start=today,
        end=today + dt.timedelta(days=365),
    )
    prestations, communes = [], {}
    for commune_data in data:
        services = {e["service_id"] for e in commune_data.enrolments}
        for prestation in commune_data.prestations:
            if prestation["service_id"] in services:
                key = f"{commune_data.commune.slug}:{prestation['id']}"
                prestations.append(
                    (key, f"{commune_data.commune.name} — {prestation['service']} — {prestation['label']}")
                )
                communes[key] = (commune_data.commune, prestation["id"])
    children = [(str(c.pk), f"{c.first_name} {c.last_name}") for c in scope.children]
    return prestations, children, communes


PERIOD_WEEKS_SHOWN = 6


def _period_range(request: HttpRequest) -> tuple[dt.date, dt.date]:
    """The weeks the period page shows: ?du=…&au=… (at most PERIOD_WEEKS_SHOWN weeks), else the
    next four weeks."""
    today = _today()
    start = parse_date(request.GET.get("du")) or today
    end = parse_date(request.GET.get("au")) or start + dt.timedelta(27)
    if end < start:
        end = start
    return start, min(end, start + dt.timedelta(weeks=PERIOD_WEEKS_SHOWN) - dt.timedelta(days=1))


@login_required
@require_http_methods(["GET", "POST"])
def period(request: HttpRequest) -> HttpResponse:
    """ "Réserver en vue période": add or remove a weekly pattern over a period for several
    children, and see the chosen weeks together, where each day can also be tapped."""
    scope = get_family_scope(request.user)
    prestations, children, targets = _period_choices(scope)
    start, end = _period_range(request)
    initial = {"start": start, "end": end, "children": [c for c, _n in children]}
    form = PeriodForm(request.POST or None, prestations=prestations, children=children, initial=initial)
    result = removed = None
    if request.method == "POST" and form.is_valid():
        commune, prestation_id = targets[form.cleaned_data["prestation"]]
        chosen = [c for c in scope.children if str(c.pk) in form.cleaned_data["children"]]
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        pattern = {
            "children": chosen,
            "prestation_id": prestation_id,
            "weekdays": set(form.cleaned_data["weekdays"]),
            "start": start,
            "end": end,
        }
        try:
            with commune_context(commune):
                if form.cleaned_data["action"] == "remove":
                    removed = services.remove_pattern_from_cart(**pattern)
                else:
                    result = services.add_pattern_to_cart(account=request.user, **pattern)
        except FoyerError as error:
            apply_errors(form, error)
        shown_end = min(end, start + dt.timedelta(weeks=PERIOD_WEEKS_SHOWN) - dt.timedelta(days=1))
    else:
        shown_end = end
    back = f"{reverse('portal:period')}?du={start.isoformat()}&au={shown_end.isoformat()}"
    return render(
        request,
        "portal/reservations/period.html",
        {
            "form": form,
            "result": result,
            "removed": removed,
            "weeks": build_weeks(scope=scope, start=start, end=shown_end, communes=scope.open_communes)
            if scope.open_communes
            else [],
            "back": back,
        },
    )


def _render_cart(
    request: HttpRequest, scope: FamilyScope, absence_form: AbsenceForm | None = None
) -> HttpResponse:
    carts = list_family_carts(scope=scope)
    if absence_form is None and any(cart.absences_to_request for cart in carts):
        absence_form = AbsenceForm()
    return render(
        request,
        "portal/reservations/cart.html",
        {
            "carts": carts,
            "several": len(carts) > 1,
            "absence_form": absence_form,
            "held_carts": list_held_carts(scope=scope),
        },
    )


@login_required
def cart(request: HttpRequest) -> HttpResponse:
    return _render_cart(request, get_family_scope(request.user))


@login_required
@require_POST
def cart_validate(request: HttpRequest) -> HttpResponse:
    # Validating needs the families and communes; the children only when the cart is shown again.
    scope = get_family_communes(request.user)
    # The reason and the certificate are kept on the page when anything is refused.
    absence_form = AbsenceForm(request.POST, request.FILES) if "absence_reason" in request.POST else None
    reason, certificate = "", None
    if absence_form is not None:
        if not absence_form.is_valid():
            return _render_cart(request, get_family_scope(request.user), absence_form)
        reason, certificate = (
            absence_form.cleaned_data["absence_reason"],
            absence_form.cleaned_data["certificate"],
        )
    try:
        checkouts = services.validate_carts(
            communes=scope.open_communes,
            family_ids=scope.family_ids,
            account=request.user,
            absence_reason=reason,
            certificate=certificate,
        )
    except FoyerError as error:
        messages.error(request, error.message)
        for line in error.extra.get("lines", []):
            messages.error(request, line)
        if error.field_errors:
            absence_form = absence_form or AbsenceForm(request.POST)
            apply_errors(absence_form, error)
        return _render_cart(request, get_family_scope(request.user), absence_form)
    # Post/redirect/get: reloading the confirmation must not post the cart again.
    request.session["last_checkout"] = [
        {
            "commune": checkout.commune.name,
            "slug": checkout.commune.slug,
            "cart_id": checkout.cart.pk,
            "bookings": len(checkout.bookings),
            "cancelled": len(checkout.cancelled),
            "requested": len(checkout.requested),
            "amount_due": str(checkout.amount_due),
            "hold_expires_at": checkout.cart.hold_expires_at.isoformat() if checkout.amount_due else None,
        }
        for checkout in checkouts
    ]
    prepaid = [(checkout.commune, checkout.cart.pk) for checkout in checkouts if checkout.amount_due]
    if prepaid:
        # Prepaid places go straight to payment; they stay held if the family leaves it.
        return pay_carts(request, prepaid, fallback="portal:cart_validated", quiet=True)
    return redirect("portal:cart_validated")


@login_required
def cart_validated(request: HttpRequest) -> HttpResponse:
    checkouts = request.session.get("last_checkout")
    if not checkouts:
        return redirect("portal:week")
    for checkout in checkouts:
        checkout["amount_due"] = Decimal(checkout["amount_due"])
        if checkout["hold_expires_at"]:
            checkout["hold_expires_at"] = dt.datetime.fromisoformat(checkout["hold_expires_at"])
    return render(request, "portal/reservations/validated.html", {"checkouts": checkouts})


# --- Commune actions (/c/<slug>/...) -------------------------------------------------------------


@login_required
@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = CartItemForm(request.POST)
    if not form.is_valid():
        get_family_scope_in(request.user, request.commune)  # not found outside the family's communes
        messages.error(request, _("Demande incomplète : rechargez la page et réessayez."))
        return _back(request, reverse("portal:week"))
    child = get_family_child_in(request.user, request.commune, form.cleaned_data["child"])
    try:
        services.add_to_cart(
            family=child.family,
            account=request.user,
            child_id=child.pk,
            prestation_id=form.cleaned_data["prestation"],
            site_id=form.cleaned_data["site"],
            day=form.cleaned_data["date"],
        )
    except FoyerError as error:
        messages.error(request, error.message)
    return _back(request, reverse("portal:week"))


@login_required
@require_POST
def cart_add_week(request: HttpRequest) -> HttpResponse:
    """ "Réserver la semaine": the free days of the week for one child and prestation, in one
    tap (the days the prestation is offered, from today on); what cannot be booked is said."""
    scope = get_family_scope_in(request.user, request.commune)
    form = WeekItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Demande incomplète : rechargez la page et réessayez."))
        return _back(request, reverse("portal:week"))
    child = next((c for c in scope.children if c.pk == form.cleaned_data["child"]), None)
    if child is None:
        raise Http404
    monday = week_start(form.cleaned_data["week"])
    try:
        result = services.add_pattern_to_cart(
            children=[child],
            account=request.user,
            prestation_id=form.cleaned_data["prestation"],
            weekdays=None,
            start=max(monday, _today()),
            end=monday + dt.timedelta(days=6),
        )
    except FoyerError as error:
        messages.error(request, error.message)
        return _back(request, reverse("portal:week"))
    if result.added:
        messages.success(
            request,
            ngettext(
                "%(n)d jour ajouté au panier pour %(child)s.",
                "%(n)d jours ajoutés au panier pour %(child)s.",
                result.added,
            )
            % {"n": result.added, "child": child.first_name},
        )
    if result.refusals:
        messages.warning(
            request,
            _("Non réservable : %(days)s.")
            % {"days": "; ".join(f"{format_day(r.date)} ({r.reason})" for r in result.refusals)},
        )
    return _back(request, reverse("portal:week"))


@login_required
@require_POST
def cart_absence(request: HttpRequest, booking_id: int) -> HttpResponse:
    """ "Absent": the booking goes to the cart as an absence, to validate with the others."""
    scope = get_family_scope_in(request.user, request.commune)
    try:
        services.add_absence_to_cart(family_ids=scope.family_ids, account=request.user, booking_id=booking_id)
    except NotFound:
        raise
    except FoyerError as error:
        messages.error(request, error.message)
    return _back(request, reverse("portal:week"))


@login_required
@require_POST
def cart_remove(request: HttpRequest, item_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    try:
        services.remove_from_cart(family_ids=scope.family_ids, item_id=item_id)
    except FoyerError as error:
        messages.error(request, error.message)
    return _back(request, reverse("portal:cart"))


@login_required
@require_POST
def booking_cancel(request: HttpRequest, booking_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    try:
        booking = services.cancel_booking(
            family_ids=scope.family_ids, account=request.user, booking_id=booking_id
        )
    except FoyerError as error:
        messages.error(request, error.message)
        if error.extra.get("can_request"):
            return redirect("commune:cancellation_request", booking_id=booking_id)
        return _back(request, reverse("portal:week"))
    messages.success(
        request,
        _("Réservation annulée : %(child)s, %(prestation)s le %(date)s.")
        % {
            "child": booking.child.first_name,
            "prestation": booking.prestation.label,
            "date": booking.date.strftime("%d/%m/%Y"),
        },
    )
    return _back(request, reverse("portal:week"))


@login_required
@require_http_methods(["GET", "POST"])
def cancellation_request(request: HttpRequest, booking_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    booking = services.get_family_booking(family_ids=scope.family_ids, booking_id=booking_id)
    week = f"{reverse('portal:week')}?semaine={booking.date.isoformat()}"
    problem = services.cancellation_request_problem(booking)
    if problem:
        messages.error(request, problem)
        return redirect(week)
    form = CancellationRequestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.request_cancellation(
                family_ids=scope.family_ids,
                account=request.user,
                booking_id=booking_id,
                reason=form.cleaned_data["reason"],
                attachment=form.cleaned_data["attachment"],
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Votre demande d'annulation est envoyée à la commune."))
            return redirect(week)
    return render(
        request,
        "portal/reservations/cancellation_request.html",
        {"form": form, "booking": booking, "week": week},
    )
