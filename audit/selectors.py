"""Reads on the audit log of the commune selected on the connection."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from .models import AuditEntry

# "Type d'action": the verb at the end of the action code; anything else is an operation.
VERB_FILTERS = {
    "create": Q(action__endswith=".create") | Q(action__endswith=".import_create"),
    "update": Q(action__endswith=".update") | Q(action__endswith=".import_update"),
    "delete": Q(action__endswith=".delete"),
}


@dataclass(frozen=True)
class AuditFilters:
    text: str = ""
    actor: str = ""
    verb: str = ""
    object_type: str = ""
    start: dt.date | None = None
    end: dt.date | None = None


def list_audit_entries(*, filters: AuditFilters, tz: ZoneInfo) -> QuerySet[AuditEntry]:
    """Newest first. Days are the commune's (``tz``): "au 12/01" includes all of the 12th."""
    entries = AuditEntry.objects.all()
    if filters.text:
        entries = entries.filter(
            Q(summary__icontains=filters.text)
            | Q(object_label__icontains=filters.text)
            | Q(object_id=filters.text)
        )
    if filters.actor:
        entries = entries.filter(actor_label=filters.actor)
    if filters.verb in VERB_FILTERS:
        entries = entries.filter(VERB_FILTERS[filters.verb])
    elif filters.verb == "operation":
        entries = entries.exclude(VERB_FILTERS["create"] | VERB_FILTERS["update"] | VERB_FILTERS["delete"])
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.start:
        entries = entries.filter(created_at__gte=dt.datetime.combine(filters.start, dt.time.min, tzinfo=tz))
    if filters.end:
        next_day = filters.end + dt.timedelta(days=1)
        entries = entries.filter(created_at__lt=dt.datetime.combine(next_day, dt.time.min, tzinfo=tz))
    return entries.order_by("-created_at", "-pk")


def list_audit_actors() -> list[str]:
    """Everybody who appears in the log, as their entries name them."""
    return list(AuditEntry.objects.order_by("actor_label").values_list("actor_label", flat=True).distinct())
