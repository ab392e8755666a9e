"""Checks shared by the cart and its validation: whether a child may be booked on a day
(enrolment, opening calendar, deadline, capacity) and at what price."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Child, Family

from ..deadlines import format_deadline, rule_from
from ..models import (
    Booking,
    Closure,
    Enrolment,
    Prestation,
    PrestationSite,
    QuotientFamilial,
    SchoolHoliday,
    Site,
)
from ..opening import CommuneCalendar, closed_reason, price_for


def current_commune():
    commune = connection.tenant
    if commune is None or commune.schema_name == "public":
        raise RuntimeError("Reservation services run in a commune's schema.")
    return commune


def commune_tz() -> ZoneInfo:
    return ZoneInfo(current_commune().timezone)


@dataclass
class Refusal:
    child: str
    prestation: str
    date: dt.date
    reason: str


def commune_calendar(days: list[dt.date]) -> CommuneCalendar:
    start, end = min(days), max(days)
    return CommuneCalendar.build(
        Closure.objects.filter(date__range=(start, end)).values_list("date", "site_id", "reason"),
        SchoolHoliday.objects.filter(start__lte=end, end__gte=start).values_list("start", "end"),
    )


def booking_refusal(
    *,
    child: Child,
    prestation: Prestation,
    site: Site,
    day: dt.date,
    now: dt.datetime,
    calendar: CommuneCalendar,
) -> tuple[str | None, bool]:
    """(why the booking is refused or None, whether it is late)."""
    if not prestation.is_active or not prestation.service.is_active:
        return _("cette prestation n'est plus proposée"), False
    if not PrestationSite.objects.filter(prestation=prestation, site=site).exists():
        return _("cette prestation n'est pas proposée sur ce site"), False
    if not Enrolment.objects.filter(
        child=child, service=prestation.service, site=site, start__lte=day, end__gte=day
    ).exists():
        return _("l'enfant n'est pas inscrit à ce service sur ce site à cette date"), False
    reason = closed_reason(
        weekdays=prestation.weekdays, period=prestation.period, site_id=site.pk, day=day, calendar=calendar
    )
    if reason:
        return reason, False
    if (
        Booking.objects.filter(child=child, prestation=prestation, date=day)
        .exclude(status="cancelled")
        .exists()
    ):
        return _("déjà réservé"), False
    start_time = prestation.start_time or dt.time(0, 0)
    tz = commune_tz()
    rule = rule_from(prestation.booking_rule)
    if day < now.astimezone(tz).date():
        return _("date passée"), False
    if not rule.is_open(day, now=now, tz=tz, start_time=start_time):
        if prestation.late_price is None:
            deadline = rule.deadline_for(day, tz=tz, start_time=start_time)
            return _("délai de réservation dépassé (c'était jusqu'au %(deadline)s)") % {
                "deadline": format_deadline(deadline, tz=tz)
            }, False
        return None, True
    return None, False


def family_child(family: Family, child_id: int) -> Child:
    child = Child.objects.filter(pk=child_id, family=family).first()
    if child is None:
        raise NotFound(_("Cet enfant n'est pas dans votre famille."))
    return child


def _quotient(family: Family, day: dt.date) -> int | None:
    row = (
        QuotientFamilial.objects.filter(family=family, valid_from__lte=day)
        .order_by("-valid_from")
        .values_list("value", flat=True)
        .first()
    )
    return row


def booking_price(*, family: Family, prestation: Prestation, day: dt.date, late: bool) -> Decimal:
    return price_for(
        base_price=prestation.base_price,
        brackets=prestation.brackets.values_list("qf_min", "qf_max", "price"),
        quotient=_quotient(family, day),
        late_price=prestation.late_price,
        late=late,
    )
