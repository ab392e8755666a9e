"""Explicit entries for what the row signals cannot see, one call from the service that does
it, inside its transaction: a set-based write of any row (QuerySet.update of a setting), and a
platform operator's actions on a commune (recorded in that commune's log).

The entries of one app's operations (a mass cancellation, an invoicing run, the CSV import)
are written by that app with ``audit.record`` / ``audit.record_many``: the audit log knows no
app above it."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext as _

from . import registry
from .recorder import record
from .scope import current_scope


def day_label(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def ref(row: models.Model | None) -> dict | None:
    """How an entry's ``changes`` point at another row: its id and its name."""
    return None if row is None else {"id": row.pk, "label": registry.object_name(row)}


def in_staff_scope() -> bool:
    """Whether a staff member's request is being recorded (not a task, not a command)."""
    return current_scope() is not None


# --- Any row changed by a set-based write -----------------------------------------------------------


def record_update(
    instance: models.Model, *, commune=None, actor=None, role: str = "", **changes: tuple
) -> None:
    """A change written with QuerySet.update(): the same entry as a save() would give.
    ``changes`` maps each field to (before, after)."""
    spec = registry.spec_for_model(type(instance))
    stored = {}
    for name, (before, after) in changes.items():
        field = type(instance)._meta.get_field(name)
        if before != after:
            stored[name] = [registry.stored_value(field, before), registry.stored_value(field, after)]
    if not stored:
        return
    name = registry.object_name(instance)
    labels = ", ".join(registry.field_label(spec.object_type, field) for field in stored)
    record(
        action=f"{spec.object_type}.update",
        object_type=spec.object_type,
        object_id=instance.pk,
        object_label=name,
        summary=f"{registry.VERBS['update']} : {spec.label} « {name} » — {labels}",
        changes=stored,
        commune=commune,
        actor=actor,
        role=role,
    )


# --- Platform operators ---------------------------------------------------------------------------


def commune_status_changed(*, commune, status: str, reason: str, actor) -> None:
    """operators.services.suspend_commune / reactivate_commune (``commune`` as it is before)."""
    record_update(
        commune,
        commune=commune,
        actor=actor,
        role="operator",
        status=(commune.status, status),
        suspension_reason=(commune.suspension_reason, reason),
    )


def domain_changed(*, commune, domain: str, keep_previous: bool, actor) -> None:
    """operators.services.change_commune_domain: ``commune`` as it is before the change."""
    before = sorted(commune.domains.values_list("domain", flat=True))
    record(
        action="domain.change",
        object_type="domain",
        object_label=domain,
        summary=_("Domaine principal de la commune : %(domain)s") % {"domain": domain},
        changes={
            "primary": [
                next(iter(commune.domains.filter(is_primary=True).values_list("domain", flat=True)), None),
                domain,
            ],
            "domains": [before, sorted({domain, *before}) if keep_previous else [domain]],
        },
        commune=commune,
        actor=actor,
        role="operator",
    )


def domain_removed(*, commune, domain, actor) -> None:
    record(
        action="domain.delete",
        object_type="domain",
        object_id=domain.pk,
        object_label=domain.domain,
        summary=_("Domaine retiré : %(domain)s") % {"domain": domain.domain},
        changes={"before": {"domain": domain.domain, "is_primary": domain.is_primary}},
        commune=commune,
        actor=actor,
        role="operator",
    )
