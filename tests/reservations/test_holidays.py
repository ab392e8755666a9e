from datetime import date, timedelta

import pytest
from django.utils import translation

from reservations.holidays import easter_sunday, french_public_holidays, is_public_holiday, is_working_day


@pytest.fixture(autouse=True)
def french():
    with translation.override("fr"):
        yield


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
    ],
)
def test_easter_sunday_follows_the_gregorian_computus(year, easter):
    # when
    result = easter_sunday(year)
    # then
    assert result == easter


def test_the_eleven_national_holidays_of_2026_in_date_order():
    # when
    holidays = french_public_holidays(2026)
    # then
    assert list(holidays.items()) == [
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Victoire 1945"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice 1918"),
        (date(2026, 12, 25), "Noël"),
    ]


def test_ascension_and_pentecost_monday_move_with_easter():
    # when
    holidays = french_public_holidays(2026)
    # then Ascension is Easter + 39 days (a Thursday), Pentecost Monday Easter + 50 days
    assert holidays[date(2026, 5, 14)] == "Ascension"
    assert date(2026, 5, 14).weekday() == 3
    assert holidays[date(2026, 5, 25)] == "Lundi de Pentecôte"
    assert date(2026, 5, 25).weekday() == 0


def test_alsace_moselle_adds_good_friday_and_saint_stephen():
    # when
    national = french_public_holidays(2026)
    local = french_public_holidays(2026, alsace_moselle=True)
    # then
    assert len(national) == 11
    assert len(local) == 13
    assert {day: name for day, name in local.items() if day not in national} == {
        date(2026, 4, 3): "Vendredi saint",
        date(2026, 12, 26): "Saint-Étienne",
    }
    assert list(local) == sorted(local)


def test_the_cached_calendar_cannot_be_changed_by_a_caller():
    # given
    holidays = french_public_holidays(2026)
    # when
    holidays.clear()
    # then
    assert len(french_public_holidays(2026)) == 11


def test_is_public_holiday_depends_on_the_calendar():
    # then
    assert is_public_holiday(date(2026, 7, 14)) is True
    assert is_public_holiday(date(2026, 7, 13)) is False
    assert is_public_holiday(date(2026, 12, 26)) is False
    assert is_public_holiday(date(2026, 12, 26), alsace_moselle=True) is True
    assert is_public_holiday(date(2026, 4, 3), alsace_moselle=True) is True


def test_working_days_around_the_first_and_eighth_of_may_2026():
    # given Friday 1 May and Friday 8 May 2026 are public holidays
    days = [date(2026, 4, 30) + timedelta(days=offset) for offset in range(12)]
    # when
    working = {day: is_working_day(day) for day in days}
    # then
    assert working == {
        date(2026, 4, 30): True,  # Thursday
        date(2026, 5, 1): False,  # Friday, Fête du Travail
        date(2026, 5, 2): False,  # Saturday
        date(2026, 5, 3): False,  # Sunday
        date(2026, 5, 4): True,
        date(2026, 5, 5): True,
        date(2026, 5, 6): True,
        date(2026, 5, 7): True,
        date(2026, 5, 8): False,  # Friday, Victoire 1945
        date(2026, 5, 9): False,
        date(2026, 5, 10): False,
        date(2026, 5, 11): True,  # Monday
    }


def test_saint_stephen_is_a_working_day_outside_alsace_moselle():
    # given Friday 26 December 2025
    day = date(2025, 12, 26)
    # then
    assert is_working_day(day) is True
    assert is_working_day(day, alsace_moselle=True) is False
