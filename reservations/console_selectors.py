"""Reads for the commune console: the catalogue, a family's enrolments and quotient familial,
the attendance sheet, the mass-cancellation preview and the cancellation requests. Every
read costs a fixed number of queries, whatever the number of rows; a fetch by id raises
NotFound for an absent row (another commune's rows live in another schema)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, models
from django.db.models import Case, Count, Prefetch, Q, QuerySet, Sum, Value, When
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from foyer.formatting import WEEKDAY_NAMES, bracket_label, format_money
from shared_identity.models import Child, Family

from .deadlines import DeadlineRule
from .models import (
    Booking,
    CancellationRequest,
    Closure,
    Enrolment,
    Prestation,
    PrestationSite,
    QuotientFamilial,
    SchoolHoliday,
    Service,
    Site,
)

# What an agent may set on a booking during the pointage.
ATTENDANCE_MARKS = (Booking.Status.ATTENDED, Booking.Status.ABSENT, Booking.Status.ABSENT_JUSTIFIED)


def _get(rows: QuerySet, pk: int):
    row = rows.filter(pk=pk).first()
    if row is None:
        raise NotFound()
    return row


# --- Catalogue -------------------------------------------------------------------------------------


def list_services() -> QuerySet[Service]:
    return Service.objects.annotate(prestation_count=Count("prestations"))


def get_service(*, service_id: int) -> Service:
    return _get(Service.objects.all(), service_id)


def list_sites() -> QuerySet[Site]:
    return Site.objects.prefetch_related(Prefetch("services", queryset=Service.objects.order_by("name")))


def get_site(*, site_id: int) -> Site:
    return _get(Site.objects.all(), site_id)


def _prestations() -> QuerySet[Prestation]:
    return Prestation.objects.select_related("service").prefetch_related(
        Prefetch("offers", queryset=PrestationSite.objects.select_related("site").order_by("site__name")),
        "brackets",
    )


def get_prestation(*, prestation_id: int) -> Prestation:
    return _get(_prestations(), prestation_id)


@dataclass(frozen=True)
class PrestationSummary:
    """A prestation as the catalogue page shows it: rules in words, prices in euros."""

    prestation: Prestation
    weekdays: str
    booking_rule: str
    cancellation_rule: str
    prices: list[tuple[str, str]]
    brackets: list[tuple[str, str]]
    sites: list[str]


def list_prestations() -> list[PrestationSummary]:
    return [_summary(prestation) for prestation in _prestations()]


def _summary(prestation: Prestation) -> PrestationSummary:
    prices = [(_("Prix de base"), format_money(prestation.base_price))]
    prices.append(
        (
            _("Hors délai"),
            format_money(prestation.late_price)
            if prestation.late_price is not None
            else _("pas de réservation hors délai"),
        )
    )
    prices.append(
        (
            _("Présence sans réservation"),
            format_money(prestation.unbooked_presence_price)
            if prestation.unbooked_presence_price is not None
            else _("prix habituel de la famille"),
        )
    )
    return PrestationSummary(
        prestation=prestation,
        weekdays=", ".join(str(WEEKDAY_NAMES[day]) for day in prestation.weekdays),
        booking_rule=describe_rule(prestation.booking_rule),
        cancellation_rule=describe_rule(prestation.cancellation_rule),
        prices=prices,
        brackets=[
            (bracket_label(b.qf_min, b.qf_max), format_money(b.price)) for b in prestation.brackets.all()
        ],
        sites=[
            _("%(site)s (%(capacity)s places par jour)")
            % {"site": offer.site.name, "capacity": offer.capacity}
            if offer.capacity is not None
            else _("%(site)s (places illimitées)") % {"site": offer.site.name}
            for offer in prestation.offers.all()
        ],
    )


def describe_rule(data: dict) -> str:
    return (DeadlineRule.from_dict(data) if data else DeadlineRule.none()).describe()


def list_closures() -> QuerySet[Closure]:
    return Closure.objects.select_related("site").order_by("date", "site__name")


def list_school_holidays() -> QuerySet[SchoolHoliday]:
    return SchoolHoliday.objects.order_by("start")


# --- A family's dossier ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyReservations:
    enrolments: list[Enrolment]
    quotients: list[QuotientFamilial]  # newest first

    @property
    def current_quotient(self) -> QuotientFamilial | None:
        today = timezone.localdate()
        return next((q for q in self.quotients if q.valid_from <= today), None)


def get_family_reservations(*, family: Family) -> FamilyReservations:
    return FamilyReservations(
        enrolments=list(
            Enrolment.objects.filter(family=family)
            .select_related("child", "service", "site")
            .order_by("-start", "child__first_name", "service__name")
        ),
        quotients=list(QuotientFamilial.objects.filter(family=family).order_by("-valid_from")),
    )


# --- Attendance ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceLine:
    booking: Booking
    marks: tuple[str, ...]  # the statuses the agent may set now, in ATTENDANCE_MARKS order


@dataclass(frozen=True)
class AttendanceSheet:
    prestation: Prestation
    site: Site
    day: dt.date
    lines: list[AttendanceLine]
    unbooked: list[Child]  # enrolled that day, not booked: may be recorded present

    @property
    def unbooked_price(self) -> str:
        price = self.prestation.unbooked_presence_price
        return format_money(price) if price is not None else _("prix habituel de la famille")

    @property
    def counts(self) -> dict[str, int]:
        statuses = [line.booking.status for line in self.lines]
        return {status: statuses.count(status) for status in Booking.Status.values}


def get_attendance_sheet(*, prestation: Prestation, site: Site, day: dt.date) -> AttendanceSheet:
    """The children booked for a prestation at a site on a day, and those enrolled but not booked."""
    bookings = list(
        Booking.objects.filter(prestation=prestation, site=site, date=day, status__in=Booking.ACTIVE)
        .select_related("child")
        .order_by("child__last_name", "child__first_name")
    )
    booked = {booking.child_id for booking in bookings}
    unbooked: dict[int, Child] = {}
    for enrolment in (
        _enrolled(prestation, site, day)
        .exclude(child_id__in=booked)
        .select_related("child")
        .order_by("child__last_name", "child__first_name")
    ):
        unbooked.setdefault(enrolment.child_id, enrolment.child)
    return AttendanceSheet(
        prestation=prestation,
        site=site,
        day=day,
        lines=[
            AttendanceLine(
                booking,
                tuple(
                    mark
                    for mark in ATTENDANCE_MARKS
                    if mark == booking.status or mark in Booking.TRANSITIONS[booking.status]
                ),
            )
            for booking in bookings
        ],
        unbooked=list(unbooked.values()),
    )


def _enrolled(prestation: Prestation, site: Site, day: dt.date) -> QuerySet[Enrolment]:
    return Enrolment.objects.filter(service_id=prestation.service_id, site=site, start__lte=day, end__gte=day)


def get_attendance_child(*, child_id: int, prestation: Prestation, site: Site, day: dt.date) -> Child:
    """A child the pointage may concern: booked that day, or enrolled in the service at the site."""
    booked = Booking.objects.filter(child_id=child_id, prestation=prestation, site=site, date=day).exclude(
        status=Booking.Status.CANCELLED
    )
    if not (booked.exists() or _enrolled(prestation, site, day).filter(child_id=child_id).exists()):
        raise NotFound()
    return Child.objects.select_related("family").get(pk=child_id)


# --- Mass cancellation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MassCancellationPreview:
    bookings: int
    families: int
    credits: int  # confirmed prepaid bookings, credited when cancelled
    credit_total: Decimal

    @property
    def credit_total_display(self) -> str:
        return format_money(self.credit_total)


def preview_mass_cancellation(
    *, site: Site, day: dt.date, prestation: Prestation | None = None
) -> MassCancellationPreview:
    """What reservations.services.mass_cancel would cancel and credit."""
    bookings = Booking.objects.filter(
        site=site, date=day, status__in=(Booking.Status.HELD, Booking.Status.CONFIRMED)
    )
    if prestation is not None:
        bookings = bookings.filter(prestation=prestation)
    credited = Q(
        status=Booking.Status.CONFIRMED,
        prestation__billing_mode=Prestation.BillingMode.PREPAID,
        price__gt=0,
    )
    return MassCancellationPreview(
        **bookings.aggregate(
            bookings=Count("pk"),
            families=Count("family_id", distinct=True),
            credits=Count("pk", filter=credited),
            credit_total=Sum("price", filter=credited, default=Decimal("0.00")),
        )
    )


# --- Cancellation requests -------------------------------------------------------------------------


def _requests() -> QuerySet[CancellationRequest]:
    return CancellationRequest.objects.select_related(
        "booking__child", "booking__prestation__service", "booking__site", "family"
    ).annotate(extra_count=Count("extra_bookings"))


def list_cancellation_requests(*, status: str = "") -> QuerySet[CancellationRequest]:
    """Pending requests first, then the newest."""
    requests = _requests()
    if status:
        requests = requests.filter(status=status)
    return requests.order_by(
        Case(
            When(status=CancellationRequest.Status.PENDING, then=Value(0)),
            default=Value(1),
            output_field=models.IntegerField(),
        ),
        "-created_at",
        "-pk",
    )


def get_cancellation_request(*, request_id: int) -> CancellationRequest:
    return _get(_requests().select_related("decided_by"), request_id)


def get_cancellation_attachment(*, request_id: int) -> FieldFile:
    """The request's attachment, only if it is stored under this commune's folder."""
    attachment = get_cancellation_request(request_id=request_id).attachment
    if not attachment or not attachment.name.startswith(f"{connection.schema_name}/"):
        raise NotFound()
    return attachment
