"""Explicit entries for what the row signals cannot see, one call from the service that does
it, inside its transaction: set-based writes (invoicing runs, the CSV import, QuerySet.update
of a setting), operations on many rows (a mass cancellation), tasks sent for many dossiers,
and a platform operator's actions on a commune (recorded in that commune's log)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from foyer.formatting import format_money

from . import registry
from .recorder import record, record_many
from .scope import current_scope


def _day(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _ref(row: models.Model | None) -> dict | None:
    return None if row is None else {"id": row.pk, "label": registry.object_name(row)}


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


# --- Reservations ---------------------------------------------------------------------------------


def mass_cancellation(*, site, day: dt.date, prestation, reason: str, bookings: list) -> None:
    """reservations.services.mass_cancel: one entry for all the bookings it cancelled (their
    rows are muted during the operation)."""
    if current_scope() is None:  # not a staff member's request: a task, a command
        return
    from reservations.models import BookingCredit

    credited = BookingCredit.objects.filter(booking__in=[b.pk for b in bookings]).aggregate(
        count=models.Count("pk"), total=models.Sum("amount", default=Decimal("0.00"))
    )
    families = len({b.family_id for b in bookings})
    where = site.name if prestation is None else f"{site.name}, {prestation.label}"
    summary = _(
        "Annulation collective : %(where)s le %(day)s — %(bookings)s, %(families)s. Motif : %(reason)s"
    ) % {
        "where": where,
        "day": _day(day),
        "bookings": ngettext("%(n)d réservation annulée", "%(n)d réservations annulées", len(bookings))
        % {"n": len(bookings)},
        "families": ngettext("%(n)d famille prévenue", "%(n)d familles prévenues", families)
        % {"n": families},
        "reason": reason,
    }
    record(
        action="booking.mass_cancel",
        object_type="site",
        object_id=site.pk,
        object_label=site.name,
        summary=summary,
        changes={
            "date": day.isoformat(),
            "site": _ref(site),
            **({"prestation": _ref(prestation)} if prestation is not None else {}),
            "reason": reason,
            "status": ["confirmed", "cancelled"],
            "bookings": sorted(b.pk for b in bookings),
            "families": families,
            "credits": credited["count"],
            "credit_total": str(credited["total"]),
        },
    )


# --- Billing --------------------------------------------------------------------------------------


def _run_label(run) -> str:
    return date_format(run.period_start, "F Y")


def invoicing_prepared(*, run, invoices: list) -> None:
    """billing.services.prepare_invoicing_run: the drafts are written set-based."""
    if current_scope() is None:  # not a staff member's request: a task, a command
        return
    total = sum((invoice.total for invoice in invoices), Decimal("0.00"))
    record(
        action="invoicing_run.prepare",
        object_type="invoicing_run",
        object_id=run.pk,
        object_label=_run_label(run),
        summary=_("Facturation de %(month)s préparée : %(drafts)s, total %(total)s.")
        % {
            "month": _run_label(run),
            "drafts": ngettext("%(n)d brouillon", "%(n)d brouillons", len(invoices)) % {"n": len(invoices)},
            "total": format_money(total),
        },
        changes={
            "period": _("du %(start)s au %(end)s")
            % {"start": _day(run.period_start), "end": _day(run.period_end)},
            "invoices": len(invoices),
            "total": str(total),
            "journal": len(run.journal or []),
        },
    )


def invoicing_issued(*, run, invoices: list) -> None:
    """billing.services.issue_invoicing_run: numbers and payers are written set-based."""
    if current_scope() is None:  # not a staff member's request: a task, a command
        return
    total = sum((invoice.total for invoice in invoices), Decimal("0.00"))
    first, last = (invoices[0].reference, invoices[-1].reference) if invoices else ("", "")
    record(
        action="invoicing_run.issue",
        object_type="invoicing_run",
        object_id=run.pk,
        object_label=_run_label(run),
        summary=_("Facturation de %(month)s émise : %(invoices)s (%(first)s à %(last)s), total %(total)s.")
        % {
            "month": _run_label(run),
            "invoices": ngettext("%(n)d facture", "%(n)d factures", len(invoices)) % {"n": len(invoices)},
            "first": first,
            "last": last,
            "total": format_money(total),
        },
        changes={
            "status": ["draft", "issued"],
            "invoices": len(invoices),
            "first_reference": first,
            "last_reference": last,
            "total": str(total),
        },
    )


# --- Families -------------------------------------------------------------------------------------


def family_import(*, preview, created: list) -> None:
    """shared_identity.family_import.import_family_dossiers: one entry per dossier created or
    updated (what the preview said, old and new values), and one for the import."""
    if current_scope() is None:  # not a staff member's request: a task, a command
        return
    from shared_identity.family_import import Action

    by_number = {membership.dossier_number: membership.pk for membership in created}
    entries = []
    for plan in preview.plans:
        if plan.action not in (Action.CREATE, Action.UPDATE):
            continue
        membership_id = plan.membership_id or by_number.get(plan.number)
        label = f"n° {plan.number} ({plan.family_name})"
        verb = "create" if plan.action == Action.CREATE else "update"
        entries.append(
            {
                "action": f"membership.import_{verb}",
                "object_type": "membership",
                "object_id": membership_id,
                "object_label": label[:255],
                "summary": (
                    _("Import CSV : création du dossier %(dossier)s")
                    if verb == "create"
                    else _("Import CSV : mise à jour du dossier %(dossier)s")
                )
                % {"dossier": label},
                "changes": {"import": list(plan.changes)},
            }
        )
    counts = preview.counts
    entries.insert(
        0,
        {
            "action": "family_import.run",
            "object_type": "family_import",
            "summary": _(
                "Import de familles (CSV) : %(created)s créé(s), %(updated)s mis à jour, "
                "%(unchanged)s inchangé(s), %(kept)s tenu(s) par la famille, %(skipped)s en erreur."
            )
            % {
                "created": counts[Action.CREATE],
                "updated": counts[Action.UPDATE],
                "unchanged": counts[Action.UNCHANGED],
                "kept": counts[Action.KEPT],
                "skipped": counts[Action.INVALID],
            },
            "changes": {key: counts[key] for key in Action.values},
        },
    )
    record_many(entries)


def activation_links_requested(*, commune, membership_ids: list[int], already_active: int) -> None:
    """shared_identity.family_import.request_family_invitations: the links go out from tasks
    (the system's), so the request itself is the staff member's entry."""
    if current_scope() is None:  # not a staff member's request: a task, a command
        return
    record(
        action="activation.bulk_send",
        object_type="activation",
        summary=ngettext(
            "Liens d'activation envoyés à %(n)d dossier (%(active)d déjà activé(s) laissé(s) de côté).",
            "Liens d'activation envoyés à %(n)d dossiers (%(active)d déjà activé(s) laissé(s) de côté).",
            len(membership_ids),
        )
        % {"n": len(membership_ids), "active": already_active},
        changes={"memberships": list(membership_ids), "already_active": already_active},
    )


def staff_joined(*, commune, account, role: str) -> None:
    """shared_identity.services.accept_staff_invitation: the new member acts before they have
    a role, so no scope is open; the entry is theirs."""
    from shared_identity.models import StaffRole

    label = f"{account.email} — {StaffRole.Role(role).label}"
    record(
        action="staff_role.create",
        object_type="staff_role",
        object_label=label,
        summary=_("Invitation acceptée : %(who)s rejoint l'équipe") % {"who": label},
        changes={"after": {"account": account.email, "role": role}},
        commune=commune,
        actor=account,
        role=role,
    )


# --- Platform operators ---------------------------------------------------------------------------


def commune_status_changed(*, commune, status: str, reason: str, actor) -> None:
    """tenants.services.suspend_commune / reactivate_commune (``commune`` as it is before)."""
    record_update(
        commune,
        commune=commune,
        actor=actor,
        role="operator",
        status=(commune.status, status),
        suspension_reason=(commune.suspension_reason, reason),
    )


def domain_changed(*, commune, domain: str, keep_previous: bool, actor) -> None:
    """tenants.services.change_commune_domain: ``commune`` as it is before the change."""
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
