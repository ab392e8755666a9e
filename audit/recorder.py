"""Writing entries: in the commune's schema, in the caller's transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from django.db import connection, models

from .scope import AuditScope, actor_label, current_scope

SYSTEM_LABEL = "Foyer (opération automatique)"


def _in_commune(commune):
    """The commune's schema for the insert: already selected in a console request; selected
    for the time of the insert otherwise (an operator acting from the public schema)."""
    if connection.schema_name == commune.schema_name:
        return contextlib.nullcontext()
    from tenants.context import commune_context

    return commune_context(commune)


def write_entries(scope: AuditScope, entries: Iterable[dict]) -> list:
    from .models import AuditEntry

    actor = scope.actor if getattr(scope.actor, "pk", None) else None
    entries = list(entries)
    if not entries:
        return []
    with _in_commune(scope.commune):
        rows = [
            AuditEntry(
                actor=actor,
                actor_label=scope.actor_label or SYSTEM_LABEL,
                role=scope.role,
                request_id=scope.request_id,
                ip_address=scope.ip_address,
                **{**entry, "object_id": str(entry.get("object_id") or "")},
            )
            for entry in entries
        ]
        if len(rows) == 1:
            rows[0].save()
            return rows
        return AuditEntry.objects.bulk_create(rows, batch_size=1000)


def _scope_for_record(commune, actor, role: str) -> AuditScope | None:
    scope = current_scope()
    if commune is None:
        return scope
    if scope is not None and scope.commune.pk == commune.pk and actor is None:
        return scope
    return AuditScope(
        commune=commune,
        actor=actor,
        actor_label=actor_label(actor),
        role=role or (scope.role if scope else "operator"),
        request_id=scope.request_id if scope else "",
        ip_address=scope.ip_address if scope else None,
    )


def record(
    *,
    action: str,
    summary: str,
    object_type: str = "",
    object_id: object = "",
    object_label: str = "",
    changes: dict | None = None,
    commune=None,
    actor=None,
    role: str = "",
):
    """One explicit entry, for what the row signals cannot see (set-based writes, operations
    on many rows). In a staff member's scope by default; outside one (a platform operator),
    pass the ``commune`` whose log receives it, the ``actor`` and the ``role``. Without a scope
    and without a commune (a scheduled task), nothing is recorded: the log is the staff's."""
    return record_many(
        [
            {
                "action": action,
                "summary": str(summary),
                "object_type": object_type,
                "object_id": object_id,
                "object_label": str(object_label)[:255],
                "changes": changes or {},
            }
        ],
        commune=commune,
        actor=actor,
        role=role,
    )


def record_many(entries: list[dict], *, commune=None, actor=None, role: str = "") -> list:
    """Several explicit entries at once (one INSERT): a CSV import writes one per dossier."""
    scope = _scope_for_record(commune, actor, role)
    if scope is None:
        return []
    return write_entries(scope, entries)


def mute(*models_: type[models.Model]) -> None:
    """For the rest of the scope, these models' rows are not recorded one by one: the operation
    that changes many of them records itself as one entry (a mass cancellation)."""
    scope = current_scope()
    if scope is not None:
        scope.muted.update(model._meta.label for model in models_)
