"""When a prestation is open, and what it costs: pure functions on plain values, shared by
the booking services (ORM rows) and the family router (rows of several communes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from .holidays import is_public_holiday


@dataclass(frozen=True)
class CommuneCalendar:
    """A commune's closures and school holidays for a range of dates."""

    closures: frozenset[tuple[dt.date, int | None]] = frozenset()  # (date, site id or None for all)
    closure_reasons: tuple[tuple[tuple[dt.date, int | None], str], ...] = ()
    school_holidays: tuple[tuple[dt.date, dt.date], ...] = ()

    @classmethod
    def build(
        cls, closures: Iterable[tuple[dt.date, int | None, str]], holidays: Iterable[tuple[dt.date, dt.date]]
    ):
        closures = list(closures)
        return cls(
            closures=frozenset((day, site) for day, site, _ in closures),
            closure_reasons=tuple(((day, site), reason) for day, site, reason in closures),
            school_holidays=tuple(holidays),
        )

    def closure_reason(self, day: dt.date, site_id: int) -> str | None:
        for key in ((day, site_id), (day, None)):
            if key in self.closures:
                return dict(self.closure_reasons)[key]
        return None

    def in_school_holidays(self, day: dt.date) -> bool:
        return any(start <= day <= end for start, end in self.school_holidays)


def closed_reason(
    *, weekdays: Iterable[int], period: str, site_id: int, day: dt.date, calendar: CommuneCalendar
) -> str | None:
    """Why a prestation is closed on a day at a site, or None when it is open."""
    if day.weekday() not in set(weekdays):
        return _("pas d'accueil ce jour-là")
    if is_public_holiday(day):
        return _("jour férié")
    reason = calendar.closure_reason(day, site_id)
    if reason:
        return _("fermé : %(reason)s") % {"reason": reason}
    holidays = calendar.in_school_holidays(day)
    if period == "school" and holidays:
        return _("vacances scolaires")
    if period == "holidays" and not holidays:
        return _("ouvert seulement pendant les vacances")
    return None


def price_for(
    *,
    base_price: Decimal,
    brackets: Iterable[tuple[int, int | None, Decimal]],
    quotient: int | None,
    late_price: Decimal | None = None,
    late: bool = False,
) -> Decimal:
    """The price of one booking: the late price when booked after the deadline, else the
    family's quotient-familial bracket, else the base price."""
    if late and late_price is not None:
        return late_price
    if quotient is not None:
        for qf_min, qf_max, price in brackets:
            if qf_min <= quotient and (qf_max is None or quotient <= qf_max):
                return price
    return base_price


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())
