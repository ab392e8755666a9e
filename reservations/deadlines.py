"""Booking and cancellation deadlines: value objects a commune sets per prestation.

A rule answers one question: until when may a family book (or cancel) the service of a given
date? It is evaluated in the commune's time zone with an injected ``now``, and is stored in a
JSONField through ``to_dict`` / ``from_dict``. Semantics shared by every kind:

- The deadline is the minute shown to the family ("jeudi 3 décembre à 10h00") and that whole
  minute counts: a request is accepted up to 10:00:59.999999 and refused from 10:01:00.
  Instants are compared in UTC, never as wall-clock times.
- A wall-clock time is resolved as PEP 495 ``fold=0`` does, then normalised: a time skipped by
  the spring-forward (02:30 on 29 March 2026 in Paris) is moved forward by the length of the
  gap (03:30, summer time); a time repeated by the fall-back (02:30 on 25 October 2026) is its
  first occurrence (summer time, the earlier instant).
- ``hours_before`` counts real elapsed hours (UTC arithmetic) from the start of the service:
  across a clock change, 72 hours before is 72 real hours, so the wall-clock time shifts by one.
- ``per_weekday`` applies, for the weekday of the service, its sub-rule; for a weekday without
  one, its ``default``, and no deadline at all when there is no default.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from foyer.formatting import MONTH_NAMES, WEEKDAY_NAMES
from reservations.holidays import is_working_day

END_OF_DAY = time(23, 59)
_CUTOFF_MINUTE = timedelta(minutes=1)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class RuleKind(StrEnum):
    NONE = "none"
    DAYS_BEFORE = "days_before"
    WEEKDAY_BEFORE = "weekday_before"
    WEEKDAY_PREVIOUS_WEEK = "weekday_previous_week"
    DAY_OF_PREVIOUS_MONTH = "day_of_previous_month"
    HOURS_BEFORE = "hours_before"
    PER_WEEKDAY = "per_weekday"


# The fields each kind uses; every other field must keep its default, so that two rules that
# mean the same thing are equal and ``to_dict`` only stores what matters.
FIELDS_BY_KIND: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.NONE: (),
    RuleKind.DAYS_BEFORE: ("days", "working_days", "alsace_moselle", "cutoff"),
    RuleKind.WEEKDAY_BEFORE: ("weekday", "cutoff"),
    RuleKind.WEEKDAY_PREVIOUS_WEEK: ("weekday", "cutoff"),
    RuleKind.DAY_OF_PREVIOUS_MONTH: ("day_of_month", "cutoff"),
    RuleKind.HOURS_BEFORE: ("hours",),
    RuleKind.PER_WEEKDAY: ("by_weekday", "default"),
}

_INT_FIELDS = {
    "days": (0, 60, gettext_lazy("un nombre entier de jours entre %(min)d et %(max)d est attendu.")),
    "weekday": (
        0,
        6,
        gettext_lazy("un jour de la semaine entre %(min)d (lundi) et %(max)d (dimanche) est attendu."),
    ),
    "day_of_month": (
        1,
        28,
        gettext_lazy(
            "un jour du mois entre %(min)d et %(max)d est attendu "
            "(le 29, le 30 et le 31 manquent à certains mois)."
        ),
    ),
    "hours": (1, 720, gettext_lazy("un nombre entier d'heures entre %(min)d et %(max)d est attendu.")),
}
_BOOL_FIELDS = ("working_days", "alsace_moselle")


class InvalidDeadlineRule(ValueError):
    """A rule that cannot be built. ``field`` is the path of the faulty field ("days",
    "by_weekday.0.cutoff"), empty when the rule as a whole is wrong; the message is in French."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        if field:
            message = _("« %(field)s » : %(problem)s") % {"field": field, "problem": problem}
        else:
            message = _("Règle de délai invalide : %(problem)s") % {"problem": problem}
        super().__init__(message)

    def nested_in(self, parent: str) -> InvalidDeadlineRule:
        return InvalidDeadlineRule(f"{parent}.{self.field}" if self.field else parent, self.problem)


# The fields a kind cannot do without: a form that leaves one empty is refused, never given a
# default (a "semaine précédente" rule without its weekday is not "lundi"). The others have a
# meaning when absent (a box left unticked).
REQUIRED_BY_KIND: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.NONE: (),
    RuleKind.DAYS_BEFORE: ("days", "cutoff"),
    RuleKind.WEEKDAY_BEFORE: ("weekday", "cutoff"),
    RuleKind.WEEKDAY_PREVIOUS_WEEK: ("weekday", "cutoff"),
    RuleKind.DAY_OF_PREVIOUS_MONTH: ("day_of_month", "cutoff"),
    RuleKind.HOURS_BEFORE: ("hours",),
    RuleKind.PER_WEEKDAY: ("by_weekday",),
}


def missing_fields(data: dict) -> list[InvalidDeadlineRule]:
    """The fields a rule typed in a form lacks for its kind, each as a refusal on that field."""
    try:
        kind = RuleKind(data.get("kind") or RuleKind.NONE)
    except ValueError:
        return []  # an unknown kind: DeadlineRule says so
    return [
        InvalidDeadlineRule(name, _("ce champ est obligatoire pour ce type de délai."))
        for name in REQUIRED_BY_KIND[kind]
        if data.get(name) in (None, "")
    ]


@dataclass(frozen=True)
class DeadlineRule:
    """One deadline rule (booking or cancelling). Validated on construction."""

    kind: RuleKind = RuleKind.NONE
    days: int = 0
    working_days: bool = False
    weekday: int = 0
    day_of_month: int = 1
    hours: int = 0
    cutoff: time = END_OF_DAY
    by_weekday: tuple[tuple[int, DeadlineRule], ...] = ()
    default: DeadlineRule | None = None
    alsace_moselle: bool = False

    def __post_init__(self) -> None:
        kind = _parse_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        relevant = FIELDS_BY_KIND[kind]
        for field in dataclasses.fields(self):
            if field.name == "kind":
                continue
            value = getattr(self, field.name)
            if field.name not in relevant:
                if value != field.default:
                    raise InvalidDeadlineRule(
                        field.name,
                        _("ce champ ne s'applique pas à une règle de type « %(kind)s ».") % {"kind": kind},
                    )
            elif field.name in _INT_FIELDS:
                low, high, message = _INT_FIELDS[field.name]
                if not _is_int(value) or not low <= value <= high:
                    raise InvalidDeadlineRule(field.name, message % {"min": low, "max": high})
            elif field.name in _BOOL_FIELDS:
                if not isinstance(value, bool):
                    raise InvalidDeadlineRule(field.name, _("vrai ou faux (true / false) est attendu."))
            elif field.name == "cutoff":
                if not isinstance(value, time) or value.tzinfo or value.second or value.microsecond:
                    raise InvalidDeadlineRule("cutoff", _cutoff_problem())
            elif field.name == "by_weekday":
                object.__setattr__(self, "by_weekday", _checked_by_weekday(value))
            elif value is not None:  # default
                _check_sub_rule("default", value)

    # Convenience constructors -------------------------------------------------------------

    @classmethod
    def none(cls) -> DeadlineRule:
        return cls()

    @classmethod
    def days_before(
        cls, days: int, *, at: time = END_OF_DAY, working_days: bool = False, alsace_moselle: bool = False
    ) -> DeadlineRule:
        return cls(
            kind=RuleKind.DAYS_BEFORE,
            days=days,
            cutoff=at,
            working_days=working_days,
            alsace_moselle=alsace_moselle,
        )

    @classmethod
    def weekday_before(cls, weekday: int, *, at: time = END_OF_DAY) -> DeadlineRule:
        return cls(kind=RuleKind.WEEKDAY_BEFORE, weekday=weekday, cutoff=at)

    @classmethod
    def weekday_previous_week(cls, weekday: int, *, at: time = END_OF_DAY) -> DeadlineRule:
        return cls(kind=RuleKind.WEEKDAY_PREVIOUS_WEEK, weekday=weekday, cutoff=at)

    @classmethod
    def day_of_previous_month(cls, day: int, *, at: time = END_OF_DAY) -> DeadlineRule:
        return cls(kind=RuleKind.DAY_OF_PREVIOUS_MONTH, day_of_month=day, cutoff=at)

    @classmethod
    def hours_before(cls, hours: int) -> DeadlineRule:
        return cls(kind=RuleKind.HOURS_BEFORE, hours=hours)

    @classmethod
    def per_weekday(
        cls, rules: Mapping[int, DeadlineRule], *, default: DeadlineRule | None = None
    ) -> DeadlineRule:
        return cls(kind=RuleKind.PER_WEEKDAY, by_weekday=tuple(rules.items()), default=default)

    # Evaluation -----------------------------------------------------------------------------

    def effective_rule(self, service_date: date) -> DeadlineRule:
        """The simple rule that applies to ``service_date`` (``self`` unless per weekday)."""
        if self.kind is not RuleKind.PER_WEEKDAY:
            return self
        for weekday, rule in self.by_weekday:
            if weekday == service_date.weekday():
                return rule
        return self.default if self.default is not None else DeadlineRule.none()

    def deadline_for(
        self, service_date: date, *, tz: ZoneInfo, start_time: time | None = time(0, 0)
    ) -> datetime | None:
        """The cut-off minute as an aware datetime in ``tz``, or None when there is no deadline.
        ``start_time`` (the prestation's local start; None is midnight) only matters to
        ``hours_before``."""
        rule = self.effective_rule(service_date)
        if rule.kind is RuleKind.NONE:
            return None
        if rule.kind is RuleKind.HOURS_BEFORE:
            start = _wall_clock(service_date, start_time or time(0, 0), tz)
            return (start.astimezone(UTC) - timedelta(hours=rule.hours)).astimezone(tz)
        return _wall_clock(rule._deadline_day(service_date), rule.cutoff, tz)

    def is_open(
        self, service_date: date, *, now: datetime, tz: ZoneInfo, start_time: time | None = time(0, 0)
    ) -> bool:
        """Whether a request made at ``now`` (aware) is in time: the cut-off minute is included."""
        if now.utcoffset() is None:
            raise ValueError("DeadlineRule.is_open needs an aware `now` datetime.")
        deadline = self.deadline_for(service_date, tz=tz, start_time=start_time)
        return deadline is None or now.astimezone(UTC) < deadline.astimezone(UTC) + _CUTOFF_MINUTE

    def _deadline_day(self, service_date: date) -> date:
        if self.kind is RuleKind.DAYS_BEFORE:
            if not self.working_days:
                return service_date - timedelta(days=self.days)
            day, remaining = service_date, self.days
            while remaining:
                day -= timedelta(days=1)
                if is_working_day(day, alsace_moselle=self.alsace_moselle):
                    remaining -= 1
            return day
        if self.kind is RuleKind.WEEKDAY_BEFORE:
            return service_date - timedelta(days=(service_date.weekday() - self.weekday - 1) % 7 + 1)
        if self.kind is RuleKind.WEEKDAY_PREVIOUS_WEEK:
            return service_date - timedelta(days=service_date.weekday() + 7 - self.weekday)
        last_of_previous_month = service_date.replace(day=1) - timedelta(days=1)
        return last_of_previous_month.replace(day=self.day_of_month)

    # Text -----------------------------------------------------------------------------------

    def describe(self) -> str:
        """The rule as a short French phrase, for the commune's console and the families."""
        values = {
            "time": _format_time(self.cutoff),
            "days": self.days,
            "weekday": WEEKDAY_NAMES[self.weekday],
            "day": _day_of_month(self.day_of_month),
            "count": self.hours,
        }
        match self.kind:
            case RuleKind.NONE:
                return _("sans délai")
            case RuleKind.DAYS_BEFORE if self.days == 0:
                return _("le jour même avant %(time)s") % values
            case RuleKind.DAYS_BEFORE if self.working_days:
                return _("J-%(days)d avant %(time)s, jours ouvrés") % values
            case RuleKind.DAYS_BEFORE:
                return _("J-%(days)d avant %(time)s") % values
            case RuleKind.WEEKDAY_BEFORE:
                return _("le %(weekday)s précédent à %(time)s") % values
            case RuleKind.WEEKDAY_PREVIOUS_WEEK:
                return _("le %(weekday)s de la semaine précédente à %(time)s") % values
            case RuleKind.DAY_OF_PREVIOUS_MONTH:
                return _("le %(day)s du mois précédent à %(time)s") % values
            case RuleKind.HOURS_BEFORE:
                return ngettext("%(count)d heure avant", "%(count)d heures avant", self.hours) % values
            case _:  # per weekday
                return self._describe_per_weekday()

    def _describe_per_weekday(self) -> str:
        weekdays_by_rule: dict[DeadlineRule, list[str]] = {}
        for weekday, rule in self.by_weekday:
            weekdays_by_rule.setdefault(rule, []).append(str(WEEKDAY_NAMES[weekday]))
        parts = [
            _("%(weekdays)s : %(rule)s") % {"weekdays": _join(weekdays), "rule": rule.describe()}
            for rule, weekdays in weekdays_by_rule.items()
        ]
        if len(self.by_weekday) < 7:
            other = self.default if self.default is not None else DeadlineRule.none()
            parts.append(_("autres jours : %(rule)s") % {"rule": other.describe()})
        return "; ".join(parts)

    # Storage --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict holding the kind and the fields it uses (time as "HH:MM")."""
        data: dict[str, Any] = {"kind": self.kind.value}
        for name in FIELDS_BY_KIND[self.kind]:
            value = getattr(self, name)
            if name == "cutoff":
                value = value.strftime("%H:%M")
            elif name == "by_weekday":
                value = {str(weekday): rule.to_dict() for weekday, rule in value}
            elif name == "default" and value is not None:
                value = value.to_dict()
            data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> DeadlineRule:
        """The rule stored by ``to_dict``; anything else raises InvalidDeadlineRule. An empty dict
        (the JSONField's default) is the rule without deadline."""
        if not isinstance(data, Mapping):
            raise InvalidDeadlineRule("", _("un dictionnaire est attendu."))
        if not data:
            return cls.none()
        names = {field.name for field in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise InvalidDeadlineRule(str(key), _("champ inconnu."))
        if "kind" not in data:
            raise InvalidDeadlineRule("kind", _("ce champ est obligatoire."))
        values = dict(data)
        values["kind"] = _parse_kind(data["kind"])
        if "cutoff" in data:
            values["cutoff"] = _parse_cutoff(data["cutoff"])
        if "by_weekday" in data:
            values["by_weekday"] = _parse_by_weekday(data["by_weekday"])
        if data.get("default") is not None:
            values["default"] = _parse_sub_rule("default", data["default"])
        return cls(**values)


def format_deadline(dt: datetime, *, tz: ZoneInfo) -> str:
    """``dt`` in ``tz`` as French text: "mardi 1er décembre à 23h59"."""
    if dt.utcoffset() is None:
        raise ValueError("format_deadline needs an aware datetime.")
    local = dt.astimezone(tz)
    return _("%(weekday)s %(day)s %(month)s à %(time)s") % {
        "weekday": WEEKDAY_NAMES[local.weekday()],
        "day": _day_of_month(local.day),
        "month": MONTH_NAMES[local.month - 1],
        "time": _format_time(local.time()),
    }


def _wall_clock(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``tz``, resolved with ``fold=0`` then normalised through UTC (see the
    module docstring: skipped times move forward by the gap, repeated times are the first)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).astimezone(tz)


def _format_time(moment: time) -> str:
    return _("%(hour)02dh%(minute)02d") % {"hour": moment.hour, "minute": moment.minute}


def _day_of_month(day: int) -> str:
    return _("1er") if day == 1 else str(day)


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return _("%(first)s et %(last)s") % {"first": ", ".join(words[:-1]), "last": words[-1]}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cutoff_problem() -> str:
    return _("une heure au format HH:MM est attendue, par exemple 09:30.")


def _parse_kind(value: Any) -> RuleKind:
    try:
        return RuleKind(value)
    except (ValueError, TypeError):
        raise InvalidDeadlineRule(
            "kind",
            _("type de règle inconnu « %(value)s » ; types possibles : %(choices)s.")
            % {"value": value, "choices": ", ".join(kind.value for kind in RuleKind)},
        ) from None


def _parse_cutoff(value: Any) -> time:
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidDeadlineRule("cutoff", _cutoff_problem())
    return time(int(match[1]), int(match[2]))


def _parse_by_weekday(value: Any) -> tuple[tuple[int, DeadlineRule], ...]:
    if not isinstance(value, Mapping):
        raise InvalidDeadlineRule(
            "by_weekday", _("un dictionnaire associant un jour (0 à 6) à une règle est attendu.")
        )
    pairs = []
    for key, sub_rule in value.items():
        if isinstance(key, str) and key.isascii() and key.isdecimal():
            weekday = int(key)
        elif _is_int(key):
            weekday = key
        else:
            low, high, message = _INT_FIELDS["weekday"]
            raise InvalidDeadlineRule(f"by_weekday.{key}", message % {"min": low, "max": high})
        pairs.append((weekday, _parse_sub_rule(f"by_weekday.{key}", sub_rule)))
    return tuple(pairs)


def _parse_sub_rule(path: str, data: Any) -> DeadlineRule:
    try:
        return DeadlineRule.from_dict(data)
    except InvalidDeadlineRule as error:
        raise error.nested_in(path) from None


def _check_sub_rule(path: str, rule: Any) -> None:
    if not isinstance(rule, DeadlineRule):
        raise InvalidDeadlineRule(path, _("une règle de délai est attendue."))
    if rule.kind is RuleKind.PER_WEEKDAY:
        raise InvalidDeadlineRule(
            path, _("une règle par jour de la semaine ne peut pas en contenir une autre.")
        )


def _checked_by_weekday(pairs: Any) -> tuple[tuple[int, DeadlineRule], ...]:
    """The (weekday, rule) pairs, validated and sorted by weekday."""
    if not isinstance(pairs, tuple) or not all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
        raise InvalidDeadlineRule("by_weekday", _("des paires (jour, règle) sont attendues."))
    if not pairs:
        raise InvalidDeadlineRule(
            "by_weekday", _("au moins un jour de la semaine avec sa règle est attendu.")
        )
    low, high, message = _INT_FIELDS["weekday"]
    seen: set[int] = set()
    for weekday, rule in pairs:
        if not _is_int(weekday) or not low <= weekday <= high:
            raise InvalidDeadlineRule(f"by_weekday.{weekday}", message % {"min": low, "max": high})
        if weekday in seen:
            raise InvalidDeadlineRule(f"by_weekday.{weekday}", _("ce jour figure deux fois."))
        seen.add(weekday)
        _check_sub_rule(f"by_weekday.{weekday}", rule)
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def rule_from(data: dict | None) -> DeadlineRule:
    """The rule stored as JSON on a prestation (none when empty)."""
    return DeadlineRule.from_dict(data) if data else DeadlineRule.none()
