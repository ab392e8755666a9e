"""French formats for what people read: money and dates."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

CENT = Decimal("0.01")
NBSP = "\u00a0"
NARROW_NBSP = "\u202f"
WEEKDAY_NAMES = (
    gettext_lazy("lundi"),
    gettext_lazy("mardi"),
    gettext_lazy("mercredi"),
    gettext_lazy("jeudi"),
    gettext_lazy("vendredi"),
    gettext_lazy("samedi"),
    gettext_lazy("dimanche"),
)
MONTH_NAMES = (
    gettext_lazy("janvier"),
    gettext_lazy("février"),
    gettext_lazy("mars"),
    gettext_lazy("avril"),
    gettext_lazy("mai"),
    gettext_lazy("juin"),
    gettext_lazy("juillet"),
    gettext_lazy("août"),
    gettext_lazy("septembre"),
    gettext_lazy("octobre"),
    gettext_lazy("novembre"),
    gettext_lazy("décembre"),
)

SHORT_MONTH_NAMES = (
    gettext_lazy("janv."),
    gettext_lazy("févr."),
    gettext_lazy("mars"),
    gettext_lazy("avr."),
    gettext_lazy("mai"),
    gettext_lazy("juin"),
    gettext_lazy("juil."),
    gettext_lazy("août"),
    gettext_lazy("sept."),
    gettext_lazy("oct."),
    gettext_lazy("nov."),
    gettext_lazy("déc."),
)


def format_money(amount: Decimal | int | str) -> str:
    """115.2 → "115,20 €" (no-break spaces: between thousands and before the euro sign)."""
    value = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    units, cents = f"{abs(value):.2f}".split(".")
    groups = []
    while len(units) > 3:
        groups.insert(0, units[-3:])
        units = units[:-3]
    groups.insert(0, units)
    return f"{sign}{NARROW_NBSP.join(groups)},{cents}{NBSP}€"


def format_day(day: dt.date) -> str:
    first = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAY_NAMES[day.weekday()]} {first} {MONTH_NAMES[day.month - 1]}"


def bracket_label(qf_min: int, qf_max: int | None) -> str:
    """A price bracket of the quotient familial: "QF 0 à 500", "QF 1200 et plus"."""
    if qf_max is None:
        return _("QF %(min)d et plus") % {"min": qf_min}
    return _("QF %(min)d à %(max)d") % {"min": qf_min, "max": qf_max}


def format_days(days: list[dt.date]) -> str:
    """The days an invoice line bills, short, grouped by month:
    "lun. 4, mar. 5, jeu. 7 janv. ; lun. 1er févr."."""
    by_month: dict[tuple[int, int], list[dt.date]] = {}
    for day in sorted(days):
        by_month.setdefault((day.year, day.month), []).append(day)
    parts = []
    for (_year, month), month_days in by_month.items():
        listed = ", ".join(
            f"{str(WEEKDAY_NAMES[d.weekday()])[:3]}. {'1er' if d.day == 1 else d.day}" for d in month_days
        )
        parts.append(f"{listed} {SHORT_MONTH_NAMES[month - 1]}")
    return " ; ".join(parts)
