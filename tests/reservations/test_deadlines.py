"""Deadline rules, with the rules communes really publish, evaluated in Europe/Paris."""

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from reservations.deadlines import DeadlineRule, InvalidDeadlineRule, RuleKind, format_deadline

PARIS = ZoneInfo("Europe/Paris")
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = range(5)


@pytest.fixture(autouse=True)
def french():
    with translation.override("fr"):
        yield


def deadline(rule: DeadlineRule, service_date: date, start_time: time = time(0, 0)) -> str | None:
    moment = rule.deadline_for(service_date, tz=PARIS, start_time=start_time)
    return None if moment is None else moment.isoformat()


def paris(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=PARIS, fold=fold)


# Veyras --------------------------------------------------------------------------------------


@pytest.mark.parametrize("service_date", [date(2026, 12, 7), date(2026, 12, 10), date(2026, 12, 13)])
def test_veyras_canteen_closes_on_tuesday_of_the_previous_week(service_date):
    # given "until Tuesday 23:59 for the next week"
    rule = DeadlineRule.weekday_previous_week(TUESDAY, at=time(23, 59))
    # when
    result = deadline(rule, service_date)
    # then Monday, Thursday and Sunday of the week of 7 December share the deadline
    assert result == "2026-12-01T23:59:00+01:00"


def test_veyras_canteen_accepts_the_last_second_and_refuses_midnight():
    # given
    rule = DeadlineRule.weekday_previous_week(TUESDAY, at=time(23, 59))
    thursday = date(2026, 12, 10)
    # when
    last_second = rule.is_open(thursday, now=paris(2026, 12, 1, 23, 59, 59), tz=PARIS)
    midnight = rule.is_open(thursday, now=paris(2026, 12, 2, 0, 0, 0), tz=PARIS)
    # then
    assert last_second is True
    assert midnight is False


def test_veyras_garderie_closes_the_eve_at_six_pm():
    # given
    rule = DeadlineRule.days_before(1, at=time(18, 0))
    # then calendar days: the eve of a Monday is the Sunday
    assert deadline(rule, date(2026, 12, 7)) == "2026-12-06T18:00:00+01:00"
    assert deadline(rule, date(2026, 12, 1)) == "2026-11-30T18:00:00+01:00"


# Vailhauques ---------------------------------------------------------------------------------


def vailhauques() -> DeadlineRule:
    friday_nine = DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))
    tuesday_nine = DeadlineRule.weekday_before(TUESDAY, at=time(9, 0))
    return DeadlineRule.per_weekday(
        {MONDAY: friday_nine, TUESDAY: friday_nine, THURSDAY: tuesday_nine, FRIDAY: tuesday_nine}
    )


@pytest.mark.parametrize(
    ("service_date", "expected"),
    [
        (date(2026, 12, 7), "2026-12-04T09:00:00+01:00"),  # Monday: Friday before
        (date(2026, 12, 8), "2026-12-04T09:00:00+01:00"),  # Tuesday: Friday before
        (date(2026, 12, 9), None),  # Wednesday: no sub-rule and no default
        (date(2026, 12, 10), "2026-12-08T09:00:00+01:00"),  # Thursday: Tuesday before
        (date(2026, 12, 11), "2026-12-08T09:00:00+01:00"),  # Friday: Tuesday before
    ],
)
def test_vailhauques_has_one_deadline_per_weekday(service_date, expected):
    # when
    result = deadline(vailhauques(), service_date)
    # then
    assert result == expected


def test_weekday_before_is_strictly_before_the_service():
    # given a Friday 09:00 rule
    rule = DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))
    # when the service itself is on a Friday
    result = deadline(rule, date(2026, 12, 11))
    # then the deadline is the Friday of the week before
    assert result == "2026-12-04T09:00:00+01:00"


def test_per_weekday_uses_its_default_for_the_other_weekdays():
    # given
    rule = DeadlineRule.per_weekday(
        {MONDAY: DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))},
        default=DeadlineRule.days_before(1, at=time(12, 0)),
    )
    # then
    assert deadline(rule, date(2026, 12, 7)) == "2026-12-04T09:00:00+01:00"
    assert deadline(rule, date(2026, 12, 9)) == "2026-12-08T12:00:00+01:00"
    assert rule.effective_rule(date(2026, 12, 9)) == DeadlineRule.days_before(1, at=time(12, 0))


# Andancette ----------------------------------------------------------------------------------


def test_andancette_books_until_friday_noon_and_cancels_until_the_eve_at_noon():
    # given
    booking = DeadlineRule.weekday_previous_week(FRIDAY, at=time(12, 0))
    cancellation = DeadlineRule.days_before(1, at=time(12, 0))
    # then
    assert deadline(booking, date(2026, 12, 7)) == "2026-12-04T12:00:00+01:00"
    assert deadline(booking, date(2026, 12, 9)) == "2026-12-04T12:00:00+01:00"
    assert deadline(cancellation, date(2026, 12, 7)) == "2026-12-06T12:00:00+01:00"
    assert deadline(cancellation, date(2026, 12, 9)) == "2026-12-08T12:00:00+01:00"


# Working days --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_date", "expected"),
    [
        (date(2026, 12, 7), "2026-12-03T10:00:00+01:00"),  # Monday: the weekend does not count
        (date(2026, 12, 8), "2026-12-04T10:00:00+01:00"),  # Tuesday: Friday
        (date(2026, 12, 9), "2026-12-07T10:00:00+01:00"),  # Wednesday: Monday
        (date(2026, 5, 18), "2026-05-13T10:00:00+02:00"),  # Monday after Ascension (Thursday 14)
    ],
)
def test_civil_default_is_two_working_days_before_at_ten(service_date, expected):
    # given
    rule = DeadlineRule.days_before(2, at=time(10, 0), working_days=True)
    # when
    result = deadline(rule, service_date)
    # then
    assert result == expected


def test_calendar_days_count_the_weekend():
    # given
    rule = DeadlineRule.days_before(2, at=time(10, 0))
    # when
    result = deadline(rule, date(2026, 12, 7))
    # then
    assert result == "2026-12-05T10:00:00+01:00"


@pytest.mark.parametrize(
    ("service_date", "expected"),
    [
        # Thursday 7, Wednesday 6, Tuesday 5: Friday 8 May (Victoire 1945) does not count
        (date(2026, 5, 11), "2026-05-05T23:59:00+02:00"),
        # Wednesday 13, Tuesday 12, Monday 11: Thursday 14 May (Ascension) does not count
        (date(2026, 5, 15), "2026-05-11T23:59:00+02:00"),
        # an ordinary week
        (date(2026, 6, 12), "2026-06-09T23:59:00+02:00"),
    ],
)
def test_villes_soeurs_is_three_working_days_before(service_date, expected):
    # given
    rule = DeadlineRule.days_before(3, working_days=True)
    # when
    result = deadline(rule, service_date)
    # then
    assert result == expected


def test_alsace_moselle_calendar_skips_saint_stephen():
    # given Monday 29 December 2025: Thursday 25 is Christmas, Friday 26 Saint-Étienne in Alsace-Moselle
    national = DeadlineRule.days_before(2, at=time(10, 0), working_days=True)
    local = DeadlineRule.days_before(2, at=time(10, 0), working_days=True, alsace_moselle=True)
    # then
    assert deadline(national, date(2025, 12, 29)) == "2025-12-24T10:00:00+01:00"
    assert deadline(local, date(2025, 12, 29)) == "2025-12-23T10:00:00+01:00"


def test_same_day_rule_closes_on_the_service_day():
    # given "le jour même avant 9h00"
    rule = DeadlineRule.days_before(0, at=time(9, 0), working_days=True)
    # when the service is on a Saturday
    result = deadline(rule, date(2026, 12, 5))
    # then
    assert result == "2026-12-05T09:00:00+01:00"


# Eragny: hours before the start ---------------------------------------------------------------


def test_eragny_seventy_two_hours_across_the_spring_clock_change():
    # given a service on Monday 30 March 2026 at 12:00 summer time; clocks went forward on the 29th
    rule = DeadlineRule.hours_before(72)
    start = paris(2026, 3, 30, 12, 0)
    # when
    result = rule.deadline_for(date(2026, 3, 30), tz=PARIS, start_time=time(12, 0))
    # then 72 real hours, so 11:00 winter time on the Friday
    assert result.isoformat() == "2026-03-27T11:00:00+01:00"
    assert (start.astimezone(UTC) - result.astimezone(UTC)).total_seconds() == 72 * 3600


def test_eragny_seventy_two_hours_across_the_autumn_clock_change():
    # given a service on Tuesday 27 October 2026 at 12:00 winter time; clocks went back on the 25th
    rule = DeadlineRule.hours_before(72)
    start = paris(2026, 10, 27, 12, 0)
    # when
    result = rule.deadline_for(date(2026, 10, 27), tz=PARIS, start_time=time(12, 0))
    # then 72 real hours, so 13:00 summer time on the Saturday
    assert result.isoformat() == "2026-10-24T13:00:00+02:00"
    assert (start.astimezone(UTC) - result.astimezone(UTC)).total_seconds() == 72 * 3600


def test_hours_before_counts_from_midnight_without_a_start_time():
    # given
    rule = DeadlineRule.hours_before(24)
    # then
    assert deadline(rule, date(2026, 12, 10)) == "2026-12-09T00:00:00+01:00"
    assert rule.deadline_for(date(2026, 12, 10), tz=PARIS, start_time=None).isoformat() == (
        "2026-12-09T00:00:00+01:00"
    )


# Day of the previous month ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_date", "expected"),
    [
        (date(2027, 1, 5), "2026-12-20T12:00:00+01:00"),  # January: December of the year before
        (date(2026, 3, 31), "2026-02-20T12:00:00+01:00"),
        (date(2026, 7, 1), "2026-06-20T12:00:00+02:00"),
    ],
)
def test_twentieth_of_the_previous_month_at_noon(service_date, expected):
    # given
    rule = DeadlineRule.day_of_previous_month(20, at=time(12, 0))
    # when
    result = deadline(rule, service_date)
    # then
    assert result == expected


# The cut-off minute ---------------------------------------------------------------------------


def test_the_whole_cut_off_minute_is_accepted_and_the_next_second_refused():
    # given the deadline of a Monday service is Thursday 3 December 2026 at 10:00
    rule = DeadlineRule.days_before(2, at=time(10, 0), working_days=True)
    monday = date(2026, 12, 7)
    # then
    assert rule.is_open(monday, now=paris(2026, 12, 3, 9, 59, 0), tz=PARIS) is True
    assert rule.is_open(monday, now=paris(2026, 12, 3, 10, 0, 59), tz=PARIS) is True
    assert rule.is_open(monday, now=paris(2026, 12, 3, 10, 1, 0), tz=PARIS) is False


def test_now_in_another_time_zone_is_compared_as_an_instant():
    # given 10:00 in Paris is 09:00 UTC in December
    rule = DeadlineRule.days_before(2, at=time(10, 0), working_days=True)
    monday = date(2026, 12, 7)
    # then
    assert rule.is_open(monday, now=datetime(2026, 12, 3, 9, 0, 59, tzinfo=UTC), tz=PARIS) is True
    assert rule.is_open(monday, now=datetime(2026, 12, 3, 9, 1, 0, tzinfo=UTC), tz=PARIS) is False


def test_no_deadline_is_always_open():
    # given
    rule = DeadlineRule.none()
    # then
    assert rule.deadline_for(date(2026, 12, 7), tz=PARIS) is None
    assert rule.is_open(date(2026, 12, 7), now=paris(2027, 1, 1, 0, 0), tz=PARIS) is True


def test_a_naive_now_is_refused():
    # given
    rule = DeadlineRule.days_before(1)
    # when / then
    with pytest.raises(ValueError, match="aware"):
        rule.is_open(date(2026, 12, 7), now=datetime(2026, 12, 1, 12, 0), tz=PARIS)
    with pytest.raises(ValueError, match="aware"):
        DeadlineRule.none().is_open(date(2026, 12, 7), now=datetime(2026, 12, 1, 12, 0), tz=PARIS)


# Clock changes --------------------------------------------------------------------------------


def test_a_cut_off_skipped_by_the_spring_clock_change_moves_forward_by_the_gap():
    # given J-1 at 02:30; on Sunday 29 March 2026 clocks jump from 02:00 to 03:00
    rule = DeadlineRule.days_before(1, at=time(2, 30))
    monday = date(2026, 3, 30)
    # when
    result = deadline(rule, monday)
    # then 02:30 does not exist: the deadline is 03:30 summer time (01:30 UTC)
    assert result == "2026-03-29T03:30:00+02:00"
    assert rule.is_open(monday, now=paris(2026, 3, 29, 3, 30, 59), tz=PARIS) is True
    assert rule.is_open(monday, now=paris(2026, 3, 29, 3, 31, 0), tz=PARIS) is False


def test_an_ambiguous_cut_off_is_its_first_occurrence():
    # given J-1 at 02:30; on Sunday 25 October 2026 clocks go back from 03:00 to 02:00
    rule = DeadlineRule.days_before(1, at=time(2, 30))
    monday = date(2026, 10, 26)
    # when
    result = deadline(rule, monday)
    # then the first 02:30, in summer time (00:30 UTC)
    assert result == "2026-10-25T02:30:00+02:00"
    assert rule.is_open(monday, now=paris(2026, 10, 25, 2, 30, 59), tz=PARIS) is True
    assert rule.is_open(monday, now=paris(2026, 10, 25, 2, 31, 0), tz=PARIS) is False
    # 02:15 of the second pass (winter time) comes after the deadline although it reads earlier
    assert rule.is_open(monday, now=paris(2026, 10, 25, 2, 15, 0, fold=1), tz=PARIS) is False


# Texts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (DeadlineRule.none(), "sans délai"),
        (DeadlineRule.days_before(2, at=time(10, 0), working_days=True), "J-2 avant 10h00, jours ouvrés"),
        (DeadlineRule.days_before(1, at=time(18, 0)), "J-1 avant 18h00"),
        (DeadlineRule.days_before(0, at=time(9, 0)), "le jour même avant 09h00"),
        (DeadlineRule.weekday_before(FRIDAY, at=time(9, 0)), "le vendredi précédent à 09h00"),
        (
            DeadlineRule.weekday_previous_week(THURSDAY, at=time(23, 59)),
            "le jeudi de la semaine précédente à 23h59",
        ),
        (DeadlineRule.day_of_previous_month(20, at=time(12, 0)), "le 20 du mois précédent à 12h00"),
        (DeadlineRule.day_of_previous_month(1, at=time(12, 0)), "le 1er du mois précédent à 12h00"),
        (DeadlineRule.hours_before(72), "72 heures avant"),
        (DeadlineRule.hours_before(1), "1 heure avant"),
        (
            vailhauques(),
            "lundi et mardi : le vendredi précédent à 09h00; "
            "jeudi et vendredi : le mardi précédent à 09h00; "
            "autres jours : sans délai",
        ),
        (
            DeadlineRule.per_weekday(
                {WEDNESDAY: DeadlineRule.none()}, default=DeadlineRule.days_before(1, at=time(12, 0))
            ),
            "mercredi : sans délai; autres jours : J-1 avant 12h00",
        ),
        (
            DeadlineRule.per_weekday({day: DeadlineRule.hours_before(48) for day in range(7)}),
            "lundi, mardi, mercredi, jeudi, vendredi, samedi et dimanche : 48 heures avant",
        ),
    ],
)
def test_describe_in_french(rule, text):
    # when
    result = rule.describe()
    # then
    assert result == text


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (paris(2026, 12, 1, 23, 59), "mardi 1er décembre à 23h59"),
        (paris(2026, 7, 14, 9, 5), "mardi 14 juillet à 09h05"),
        (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), "mercredi 2 décembre à 00h30"),  # converted first
        (paris(2027, 8, 1, 0, 0), "dimanche 1er août à 00h00"),
    ],
)
def test_format_deadline_in_french(moment, text):
    # when
    result = format_deadline(moment, tz=PARIS)
    # then
    assert result == text


def test_format_deadline_refuses_a_naive_datetime():
    # when / then
    with pytest.raises(ValueError, match="aware"):
        format_deadline(datetime(2026, 12, 1, 23, 59), tz=PARIS)


# Storage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        DeadlineRule.none(),
        DeadlineRule.days_before(2, at=time(10, 0), working_days=True),
        DeadlineRule.days_before(3, working_days=True, alsace_moselle=True),
        DeadlineRule.days_before(0, at=time(9, 0)),
        DeadlineRule.weekday_before(FRIDAY, at=time(9, 0)),
        DeadlineRule.weekday_previous_week(TUESDAY, at=time(23, 59)),
        DeadlineRule.day_of_previous_month(20, at=time(12, 0)),
        DeadlineRule.hours_before(72),
        vailhauques(),
        DeadlineRule.per_weekday({WEDNESDAY: DeadlineRule.none()}, default=DeadlineRule.hours_before(48)),
    ],
    ids=lambda rule: rule.kind.value,
)
def test_every_kind_survives_a_round_trip_through_json(rule):
    # when
    stored = json.loads(json.dumps(rule.to_dict()))
    # then
    assert DeadlineRule.from_dict(stored) == rule
    assert DeadlineRule.from_dict(rule.to_dict()) == rule


def test_to_dict_stores_only_the_fields_of_the_kind():
    # then
    assert DeadlineRule.none().to_dict() == {"kind": "none"}
    assert DeadlineRule.days_before(2, at=time(10, 0), working_days=True).to_dict() == {
        "kind": "days_before",
        "days": 2,
        "working_days": True,
        "alsace_moselle": False,
        "cutoff": "10:00",
    }
    assert DeadlineRule.hours_before(72).to_dict() == {"kind": "hours_before", "hours": 72}
    assert DeadlineRule.per_weekday(
        {FRIDAY: DeadlineRule.none(), MONDAY: DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))}
    ).to_dict() == {
        "kind": "per_weekday",
        "by_weekday": {
            "0": {"kind": "weekday_before", "weekday": 4, "cutoff": "09:00"},
            "4": {"kind": "none"},
        },
        "default": None,
    }


def test_an_empty_dict_is_the_rule_without_deadline():
    # when
    rule = DeadlineRule.from_dict({})
    # then
    assert rule == DeadlineRule.none()
    assert rule.kind is RuleKind.NONE


def test_from_dict_accepts_unused_fields_left_at_their_default():
    # when
    rule = DeadlineRule.from_dict({"kind": "hours_before", "hours": 72, "days": 0, "cutoff": "23:59"})
    # then
    assert rule == DeadlineRule.hours_before(72)


DAYS = "« days » : un nombre entier de jours entre 0 et 60 est attendu."
HOURS = "« hours » : un nombre entier d'heures entre 1 et 720 est attendu."
WEEKDAY = "un jour de la semaine entre 0 (lundi) et 6 (dimanche) est attendu."
DAY_OF_MONTH = (
    "« day_of_month » : un jour du mois entre 1 et 28 est attendu "
    "(le 29, le 30 et le 31 manquent à certains mois)."
)
CUTOFF = "« cutoff » : une heure au format HH:MM est attendue, par exemple 09:30."
BOOLEAN = "vrai ou faux (true / false) est attendu."
NESTED = "une règle par jour de la semaine ne peut pas en contenir une autre."


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (["days_before"], "", "Règle de délai invalide : un dictionnaire est attendu."),
        ({"days": 2}, "kind", "« kind » : ce champ est obligatoire."),
        (
            {"kind": "weekly"},
            "kind",
            "« kind » : type de règle inconnu « weekly » ; types possibles : none, days_before, "
            "weekday_before, weekday_previous_week, day_of_previous_month, hours_before, per_weekday.",
        ),
        (
            {"kind": 3},
            "kind",
            "« kind » : type de règle inconnu « 3 » ; types possibles : none, days_before, "
            "weekday_before, weekday_previous_week, day_of_previous_month, hours_before, per_weekday.",
        ),
        ({"kind": "days_before", "day": 2}, "day", "« day » : champ inconnu."),
        ({"kind": "days_before", "days": 61}, "days", DAYS),
        ({"kind": "days_before", "days": -1}, "days", DAYS),
        ({"kind": "days_before", "days": "2"}, "days", DAYS),
        ({"kind": "days_before", "days": 2.0}, "days", DAYS),
        ({"kind": "days_before", "days": True}, "days", DAYS),
        (
            {"kind": "days_before", "days": 2, "working_days": "oui"},
            "working_days",
            f"« working_days » : {BOOLEAN}",
        ),
        (
            {"kind": "days_before", "days": 2, "alsace_moselle": 1},
            "alsace_moselle",
            f"« alsace_moselle » : {BOOLEAN}",
        ),
        ({"kind": "hours_before", "hours": 0}, "hours", HOURS),
        ({"kind": "hours_before", "hours": 721}, "hours", HOURS),
        ({"kind": "hours_before"}, "hours", HOURS),
        ({"kind": "weekday_before", "weekday": 7}, "weekday", f"« weekday » : {WEEKDAY}"),
        ({"kind": "weekday_previous_week", "weekday": -1}, "weekday", f"« weekday » : {WEEKDAY}"),
        ({"kind": "day_of_previous_month", "day_of_month": 29}, "day_of_month", DAY_OF_MONTH),
        ({"kind": "day_of_previous_month", "day_of_month": 0}, "day_of_month", DAY_OF_MONTH),
        ({"kind": "days_before", "days": 1, "cutoff": "9:30"}, "cutoff", CUTOFF),
        ({"kind": "days_before", "days": 1, "cutoff": "24:00"}, "cutoff", CUTOFF),
        ({"kind": "days_before", "days": 1, "cutoff": "10h00"}, "cutoff", CUTOFF),
        ({"kind": "days_before", "days": 1, "cutoff": "10:00:00"}, "cutoff", CUTOFF),
        ({"kind": "days_before", "days": 1, "cutoff": 930}, "cutoff", CUTOFF),
        ({"kind": "days_before", "days": 1, "cutoff": None}, "cutoff", CUTOFF),
        (
            {"kind": "none", "days": 3},
            "days",
            "« days » : ce champ ne s'applique pas à une règle de type « none ».",
        ),
        (
            {"kind": "hours_before", "hours": 72, "cutoff": "10:00"},
            "cutoff",
            "« cutoff » : ce champ ne s'applique pas à une règle de type « hours_before ».",
        ),
        (
            {"kind": "per_weekday"},
            "by_weekday",
            "« by_weekday » : au moins un jour de la semaine avec sa règle est attendu.",
        ),
        (
            {"kind": "per_weekday", "by_weekday": [[0, {"kind": "none"}]]},
            "by_weekday",
            "« by_weekday » : un dictionnaire associant un jour (0 à 6) à une règle est attendu.",
        ),
        (
            {"kind": "per_weekday", "by_weekday": {"7": {"kind": "none"}}},
            "by_weekday.7",
            f"« by_weekday.7 » : {WEEKDAY}",
        ),
        (
            {"kind": "per_weekday", "by_weekday": {"lundi": {"kind": "none"}}},
            "by_weekday.lundi",
            f"« by_weekday.lundi » : {WEEKDAY}",
        ),
        (
            {"kind": "per_weekday", "by_weekday": {"0": "none"}},
            "by_weekday.0",
            "« by_weekday.0 » : un dictionnaire est attendu.",
        ),
        (
            {"kind": "per_weekday", "by_weekday": {"0": {"kind": "days_before", "days": 99}}},
            "by_weekday.0.days",
            "« by_weekday.0.days » : un nombre entier de jours entre 0 et 60 est attendu.",
        ),
        (
            {
                "kind": "per_weekday",
                "by_weekday": {"0": {"kind": "per_weekday", "by_weekday": {"1": {"kind": "none"}}}},
            },
            "by_weekday.0",
            f"« by_weekday.0 » : {NESTED}",
        ),
        (
            {
                "kind": "per_weekday",
                "by_weekday": {"0": {"kind": "none"}},
                "default": {"kind": "per_weekday", "by_weekday": {"1": {"kind": "none"}}},
            },
            "default",
            f"« default » : {NESTED}",
        ),
        (
            {"kind": "per_weekday", "by_weekday": {"0": {"kind": "none"}}, "default": {"kind": "soon"}},
            "default.kind",
            "« default.kind » : type de règle inconnu « soon » ; types possibles : none, days_before, "
            "weekday_before, weekday_previous_week, day_of_previous_month, hours_before, per_weekday.",
        ),
    ],
)
def test_from_dict_names_the_faulty_field_in_french(data, field, message):
    # when
    with pytest.raises(InvalidDeadlineRule) as caught:
        DeadlineRule.from_dict(data)
    # then
    assert caught.value.field == field
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_constructing_an_invalid_rule_raises_too():
    # given
    friday_nine = DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))
    # when / then
    with pytest.raises(InvalidDeadlineRule, match="« by_weekday.0 » : ce jour figure deux fois."):
        DeadlineRule(kind=RuleKind.PER_WEEKDAY, by_weekday=((0, friday_nine), (0, friday_nine)))
    with pytest.raises(InvalidDeadlineRule, match=f"« by_weekday.1 » : {NESTED}"):
        DeadlineRule.per_weekday({1: vailhauques()})
    with pytest.raises(InvalidDeadlineRule, match="« cutoff » : une heure au format HH:MM"):
        DeadlineRule.days_before(1, at=time(10, 0, 30))
    with pytest.raises(InvalidDeadlineRule, match="« days » : un nombre entier de jours"):
        DeadlineRule.days_before(61)


def test_rules_meaning_the_same_are_equal_and_hashable():
    # given the same weekdays given in another order, and the kind given as a plain string
    friday_nine = DeadlineRule.weekday_before(FRIDAY, at=time(9, 0))
    tuesday_nine = DeadlineRule.weekday_before(TUESDAY, at=time(9, 0))
    # when
    one = DeadlineRule.per_weekday({THURSDAY: tuesday_nine, MONDAY: friday_nine})
    other = DeadlineRule.per_weekday({MONDAY: friday_nine, THURSDAY: tuesday_nine})
    plain = DeadlineRule(kind="weekday_before", weekday=FRIDAY, cutoff=time(9, 0))
    # then
    assert one == other
    assert len({one, other}) == 1
    assert plain == friday_nine
    assert plain.kind is RuleKind.WEEKDAY_BEFORE
