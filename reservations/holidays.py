"""French public holidays (jours fériés), computed locally: no network, no third-party calendar.

The list is the one of the Labour Code today (article L3133-1): eleven national holidays, plus
Good Friday and Saint Stephen's Day in Alsace-Moselle (article L3134-13). Past legal changes are
not modelled: Foyer books future services.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (anonymous algorithm, as given by Jean Meeus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


@functools.cache
def _holiday_names(year: int, alsace_moselle: bool) -> tuple[tuple[date, str], ...]:
    """(date, untranslated name) pairs in date order; names are translated by the caller, so the
    cache does not freeze the language active on the first call."""
    easter = easter_sunday(year)
    days = [
        (date(year, 1, 1), gettext_noop("Jour de l'an")),
        (easter + timedelta(days=1), gettext_noop("Lundi de Pâques")),
        (date(year, 5, 1), gettext_noop("Fête du Travail")),
        (date(year, 5, 8), gettext_noop("Victoire 1945")),
        (easter + timedelta(days=39), gettext_noop("Ascension")),
        (easter + timedelta(days=50), gettext_noop("Lundi de Pentecôte")),
        (date(year, 7, 14), gettext_noop("Fête nationale")),
        (date(year, 8, 15), gettext_noop("Assomption")),
        (date(year, 11, 1), gettext_noop("Toussaint")),
        (date(year, 11, 11), gettext_noop("Armistice 1918")),
        (date(year, 12, 25), gettext_noop("Noël")),
    ]
    if alsace_moselle:
        days += [
            (easter - timedelta(days=2), gettext_noop("Vendredi saint")),
            (date(year, 12, 26), gettext_noop("Saint-Étienne")),
        ]
    return tuple(sorted(days))


def french_public_holidays(year: int, *, alsace_moselle: bool = False) -> dict[date, str]:
    """The public holidays of ``year`` in date order, each with its French name."""
    return {day: _(name) for day, name in _holiday_names(year, alsace_moselle)}


def is_public_holiday(day: date, *, alsace_moselle: bool = False) -> bool:
    return any(holiday == day for holiday, _name in _holiday_names(day.year, alsace_moselle))


def is_working_day(day: date, *, alsace_moselle: bool = False) -> bool:
    """Monday to Friday, and not a public holiday (a jour ouvré)."""
    return day.weekday() < 5 and not is_public_holiday(day, alsace_moselle=alsace_moselle)
