"""French formats for what people read: money and dates."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
NBSP = "\u00a0"
NARROW_NBSP = "\u202f"


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
    from reservations.deadlines import MONTH_NAMES, WEEKDAY_NAMES

    first = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAY_NAMES[day.weekday()]} {first} {MONTH_NAMES[day.month - 1]}"
