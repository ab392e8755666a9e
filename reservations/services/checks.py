"""Checks shared by the cart and its validation: whether a child may be booked on a day
(enrolment, opening calendar, deadline, capacity) and at what price.

The booking path reads every fact a line needs (offer and capacity, enrolment, a live
booking, the closures and school holidays of its day, the family's quotient and the price
brackets) as annotations of the one query that reads the lines (``line_facts``), then decides
in Python (``refusal_from``): a cart of n lines costs one read, not n times seven."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import CharField, Exists, Subquery
from django.db.models.functions import Cast, JSONObject
from django.utils.translation import gettext as _

from shared_identity.models import Child, Family

from ..deadlines import format_deadline, rule_from
from ..models import (
    Booking,
    Closure,
    Enrolment,
    Prestation,
    PrestationSite,
    PriceBracket,
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
    """(why the booking is refused or None, whether it is late), reading the facts one by one
    (the period view; the cart and its validation read them in bulk with ``line_facts``)."""
    return refusal_from(
        prestation=prestation,
        offered=PrestationSite.objects.filter(prestation=prestation, site=site).exists(),
        enrolled=lambda: Enrolment.objects.filter(
            child=child, service=prestation.service, site=site, start__lte=day, end__gte=day
        ).exists(),
        booked=lambda: (
            Booking.objects.filter(child=child, prestation=prestation, date=day)
            .exclude(status="cancelled")
            .exists()
        ),
        site_id=site.pk,
        day=day,
        now=now,
        calendar=calendar,
    )


def _known(fact) -> bool:
    return bool(fact() if callable(fact) else fact)


def refusal_from(
    *,
    prestation: Prestation,
    offered,
    enrolled,
    booked,
    site_id: int,
    day: dt.date,
    now: dt.datetime,
    calendar: CommuneCalendar,
) -> tuple[str | None, bool]:
    """(why the booking is refused or None, whether it is late), from facts already read
    (``offered``, ``enrolled``, ``booked``: booleans, or callables asked only when needed)."""
    if not prestation.is_active or not prestation.service.is_active:
        return _("cette prestation n'est plus proposée"), False
    if not _known(offered):
        return _("cette prestation n'est pas proposée sur ce site"), False
    if not _known(enrolled):
        return _("l'enfant n'est pas inscrit à ce service sur ce site à cette date"), False
    reason = closed_reason(
        weekdays=prestation.weekdays, period=prestation.period, site_id=site_id, day=day, calendar=calendar
    )
    if reason:
        return reason, False
    if _known(booked):
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


def line_facts(*, child, prestation, service, site, day, family) -> dict:
    """Annotations that read, in the query of a booking line, every fact its checks and its
    price need. Each argument is a column reference of the line (``OuterRef``) or a value:

    ``offered`` / ``capacity`` (the prestation at that site), ``enrolled``, ``booked`` (a live
    booking of the child that day), ``closures`` ([{site, reason}] of that day),
    ``school_holiday``, ``quotient`` (the family's on that day), ``price_brackets``."""
    offer = PrestationSite.objects.filter(prestation=prestation, site=site)
    return {
        "offered": Exists(offer),
        "capacity": Subquery(offer.values("capacity")[:1]),
        "enrolled": Exists(
            Enrolment.objects.filter(
                child=child,
                service=service,
                site=site,
                start__lte=day,
                end__gte=day,
            )
        ),
        "booked": Exists(
            Booking.objects.filter(child=child, prestation=prestation, date=day).exclude(status="cancelled")
        ),
        "closures": ArraySubquery(
            Closure.objects.filter(date=day)
            .order_by()
            .values(info=JSONObject(site="site_id", reason="reason"))
        ),
        "school_holiday": Exists(SchoolHoliday.objects.filter(start__lte=day, end__gte=day)),
        "quotient": Subquery(
            QuotientFamilial.objects.filter(family=family, valid_from__lte=day)
            .order_by("-valid_from")
            .values("value")[:1]
        ),
        "price_brackets": ArraySubquery(
            PriceBracket.objects.filter(prestation=prestation)
            .order_by("qf_min")
            .values(
                info=JSONObject(
                    qf_min="qf_min", qf_max="qf_max", price=Cast("price", output_field=CharField())
                )
            )
        ),
    }


def calendar_of(lines: list) -> CommuneCalendar:
    """The opening calendar of the days of ``lines`` (rows annotated by ``line_facts``)."""
    return CommuneCalendar.build(
        [(line.date, closure["site"], closure["reason"]) for line in lines for closure in line.closures],
        [(line.date, line.date) for line in lines if line.school_holiday],
    )


def price_of(line, *, prestation: Prestation, late: bool) -> Decimal:
    """The price of a line annotated by ``line_facts``: as ``booking_price``, without a query."""
    return price_for(
        base_price=prestation.base_price,
        brackets=[(b["qf_min"], b["qf_max"], Decimal(b["price"])) for b in line.price_brackets],
        quotient=line.quotient,
        late_price=prestation.late_price,
        late=late,
    )


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
