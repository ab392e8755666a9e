"""Entries as people read them: dates in the commune's time, French values, "before → after"
per field with the fields' French names. No query: everything is in the entry."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import registry
from audit.models import AuditEntry
from foyer.formatting import format_money

EMPTY = gettext_lazy("(vide)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")

# Keys of the operations' entries (audit.operations).
OPERATION_LABELS = {
    "bookings": gettext_lazy("réservations"),
    "families": gettext_lazy("familles prévenues"),
    "credits": gettext_lazy("avoirs créés"),
    "credit_total": gettext_lazy("montant des avoirs"),
    "invoices": gettext_lazy("factures"),
    "first_reference": gettext_lazy("première facture"),
    "last_reference": gettext_lazy("dernière facture"),
    "period": gettext_lazy("période"),
    "journal": gettext_lazy("remarques du journal"),
    "import": gettext_lazy("modifications"),
    "memberships": gettext_lazy("dossiers"),
    "already_active": gettext_lazy("déjà activés"),
    "primary": gettext_lazy("domaine principal"),
    "domains": gettext_lazy("domaines"),
    "create": gettext_lazy("créés"),
    "update": gettext_lazy("mis à jour"),
    "unchanged": gettext_lazy("inchangés"),
    "kept": gettext_lazy("tenus par la famille"),
    "invalid": gettext_lazy("en erreur"),
}
MONEY_KEYS = frozenset({"total", "credit_total", "amount", "price", "paid_amount"})


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None  # None: no "before" (a creation, a fact of an operation)
    after: str | None  # None: no "after" (a deletion)


@dataclass(frozen=True)
class EntryView:
    entry: AuditEntry
    when: str
    role: str
    changes: list[Change]


def when(value: dt.datetime, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    return _("%(day)s à %(time)s") % {"day": local.strftime("%d/%m/%Y"), "time": local.strftime("%Hh%M")}


def present(entries, *, tz: ZoneInfo) -> list[EntryView]:
    return [
        EntryView(
            entry=entry,
            when=when(entry.created_at, tz),
            role=entry.get_role_display(),
            changes=_changes(entry, tz),
        )
        for entry in entries
    ]


def _changes(entry: AuditEntry, tz: ZoneInfo) -> list[Change]:
    changes = entry.changes or {}
    if not isinstance(changes, dict):
        return []
    kind = entry.object_type
    rows: list[Change] = []
    if set(changes) in ({"after"}, {"before"}) and isinstance(next(iter(changes.values())), dict):
        side = next(iter(changes))
        rank = {name: index for index, name in enumerate(registry.field_order(kind))}
        for name, value in sorted(changes[side].items(), key=lambda item: rank.get(item[0], len(rank))):
            if value in (None, "", [], {}):
                continue
            shown = value_text(kind, name, value, tz)
            rows.append(
                Change(
                    _label(kind, name), None if side == "after" else shown, shown if side == "after" else None
                )
            )
        return rows
    # JSONB keeps keys in its own order: show them in the model's (then the operations') order.
    order = registry.field_order(kind) + list(OPERATION_LABELS)
    rank: dict[str, int] = {}
    for index, name in enumerate(order):
        rank.setdefault(name, index)
    for name, value in sorted(changes.items(), key=lambda item: rank.get(item[0], len(rank))):
        label = _label(kind, name)
        if _is_pair(kind, name, value):
            rows.append(
                Change(label, value_text(kind, name, value[0], tz), value_text(kind, name, value[1], tz))
            )
        else:
            rows.append(Change(label, None, value_text(kind, name, value, tz)))
    return rows


# Keys of operations that hold [before, after]; their other keys are facts ("réservations: …").
PAIR_KEYS = frozenset({"status", "primary", "domains"})


def _is_pair(kind: str, name: str, value) -> bool:
    if not (isinstance(value, list) and len(value) == 2):
        return False
    # Model fields and collections always store [before, after].
    return name in PAIR_KEYS or name not in OPERATION_LABELS or name in registry.field_order(kind)


def _label(kind: str, name: str) -> str:
    if name in OPERATION_LABELS and registry.field_for(kind, name) is None:
        return str(OPERATION_LABELS[name])
    return registry.field_label(kind, name)


def value_text(kind: str, name: str, value, tz: ZoneInfo) -> str:
    """One value as a person reads it."""
    if value is None or value == "":
        return str(EMPTY)
    if value == registry.REDACTED:
        return value
    field = registry.field_for(kind, name)
    if isinstance(value, dict) and "id" in value and set(value) <= {"id", "label"}:
        return value.get("label") or _("n° %(id)s") % {"id": value["id"]}
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if field is not None:
        special = _field_text(field, value)
        if special is not None:
            return special
    elif name == "status" and isinstance(value, str):
        return str(_operation_statuses().get(value, value))
    if name in ("booking_rule", "cancellation_rule") and isinstance(value, dict):
        from reservations.console_selectors import describe_rule

        try:
            return describe_rule(value)
        except Exception:
            pass
    if isinstance(value, list):
        if value and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return ", ".join(str(item) for item in value)
        return " ; ".join(value_text(kind, "", item, tz) for item in value) if value else str(EMPTY)
    if isinstance(value, dict):
        return " ; ".join(f"{key} : {value_text(kind, '', item, tz)}" for key, item in value.items())
    if isinstance(value, str):
        if name in MONEY_KEYS:
            try:
                return format_money(Decimal(value))
            except InvalidOperation:
                return value
        if _ISO_DATETIME.match(value):
            try:
                return when(dt.datetime.fromisoformat(value), tz)
            except ValueError:
                return value
        if _ISO_DATE.match(value):
            return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
        if _ISO_TIME.match(value):
            return value[:5]
    return str(value)


def _operation_statuses() -> dict:
    """Statuses named by operations' entries (a mass cancellation's bookings, a run)."""
    from billing.models import InvoicingRun
    from reservations.models import Booking

    return {**dict(InvoicingRun.Status.choices), **dict(Booking.Status.choices)}


def _field_text(field: models.Field, value) -> str | None:
    choices = dict(field.flatchoices) if getattr(field, "choices", None) else None
    if choices and not isinstance(value, list | dict):
        return str(choices.get(value, value))
    if isinstance(field, models.DecimalField) and field.decimal_places == 2 and isinstance(value, str):
        try:
            return format_money(Decimal(value))
        except InvalidOperation:
            return value
    if field.name == "weekdays" and isinstance(value, list):
        from foyer.formatting import WEEKDAY_NAMES

        return ", ".join(str(WEEKDAY_NAMES[day]) for day in value if isinstance(day, int) and 0 <= day < 7)
    return None
