"""The audit log: every change a commune's staff make — who, what, when, before and after —
kept in the commune's own schema (audit.models.AuditEntry) and shown to its administrators.

Why a hybrid of automatic capture and explicit entries:

* **Row signals inside a scope** (audit.capture). A staff member's writing request in the
  console opens an *audit scope* (console.access.staff_required → audit.scope.staff_scope: the
  account, its role, the commune, a request id and the IP address, in a contextvar). While it is
  open, pre_save / post_save / post_delete of the models listed in audit.registry record the
  difference field by field, in the same transaction as the change. Every service is covered
  without a line of audit code in it, including services written later, and nothing a family
  does is ever recorded: families never act inside a scope, and neither do Celery tasks (even
  one run eagerly inside the request). Families' identity rows (public schema) changed from the
  console are recorded in the log of the commune whose console it was.
* **Explicit entries** (audit.record, audit.record_many; audit.operations for the platform's
  own) where signals see nothing or too much:
  set-based writes (QuerySet.update, raw SQL, bulk_create — the invoicing run, the CSV import,
  a setting saved with update()), operations on many rows recorded as one entry (a mass
  cancellation mutes its bookings' rows with audit.mute), and a platform operator's actions on
  a commune, which happen outside any console (recorded with ``commune=``). Each is one call
  from the service, inside its transaction, so the entry commits or rolls back with the change.

Signals alone would miss every set-based write; explicit calls alone would depend on each
service remembering them (and on each future service). Together, the explicit calls are limited
to the few operations that need them. What stays for whoever writes a new service: a set-based
write by staff needs its call (audit.record_update for a QuerySet.update, audit.created_in_bulk
after a bulk_create, audit.record for anything else). A few set-based writes are left out on
purpose because a recorded row already says it: an invoice's paid amount (the payment's entry),
a request's last-activity date (its status entry).

Objects whose child rows are replaced after their own save (a prestation's sites and price
brackets, a site's services) get one entry for the whole save: the service calls
audit.related_saved(obj) once the children are written (or the entry is written at commit).

Secrets are never stored (encrypted keys, token hashes, passwords, bank details: "••••", only
whether they are set), nor noise (places counters, carts, the provider's events…): see
audit.registry.

**Append-only.** The application cannot change or delete an entry (AuditEntry.save/delete and
its QuerySet refuse), and neither can anything else: a trigger on the table refuses UPDATE and
DELETE (migration 0001; tenants.schemas.clone_template copies it to new communes). One update
is let through: the account column set to NULL when an account is deleted (SET_NULL), the
copied "Prénom Nom <email>" label staying. TRUNCATE is left to the database owner (tests).
"""

from __future__ import annotations

from .capture import created_in_bulk, related_saved
from .operations import (
    commune_status_changed,
    day_label,
    domain_changed,
    domain_removed,
    in_staff_scope,
    record_update,
    ref,
)
from .recorder import mute, record, record_many

__all__ = [
    "commune_status_changed",
    "created_in_bulk",
    "day_label",
    "domain_changed",
    "domain_removed",
    "in_staff_scope",
    "mute",
    "record",
    "record_many",
    "record_update",
    "ref",
    "related_saved",
]
