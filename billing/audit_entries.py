"""The audit log's entries for the invoicing run, whose drafts, numbers and payers are written
set-based (row signals see none of it)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import audit
from foyer.formatting import format_money


def _run_label(run) -> str:
    return date_format(run.period_start, "F Y")


def record_invoicing_prepared(*, run, invoices: list) -> None:
    """billing.services.prepare_invoicing_run: the drafts are written set-based."""
    if not audit.in_staff_scope():  # not a staff member's request: a task, a command
        return
    total = sum((invoice.total for invoice in invoices), Decimal("0.00"))
    audit.record(
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
            % {"start": audit.day_label(run.period_start), "end": audit.day_label(run.period_end)},
            "invoices": len(invoices),
            "total": str(total),
            "journal": len(run.journal or []),
        },
    )


def record_invoicing_issued(*, run, invoices: list) -> None:
    """billing.services.issue_invoicing_run: numbers and payers are written set-based."""
    if not audit.in_staff_scope():  # not a staff member's request: a task, a command
        return
    total = sum((invoice.total for invoice in invoices), Decimal("0.00"))
    first, last = (invoices[0].reference, invoices[-1].reference) if invoices else ("", "")
    audit.record(
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
