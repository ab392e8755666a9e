"""Columns of a commune schema that point at the public schema's identity rows (accounts,
families, children).

They are plain indexed ids, without a database foreign key: a foreign key from every commune
schema would add triggers to the shared identity tables for each commune (tens of thousands
at a thousand communes), slow every write to them, and make deleting one identity row lock a
table in every schema. Integrity is kept by the code instead: the services take these ids
from the commune's own memberships, identity rows are deleted or anonymised through
``family.identity`` only, and a periodic check reports any id that points at nothing
(``family.identity.find_orphans``)."""

from __future__ import annotations

from django.db import models


def identity_key(to: str, **options) -> models.ForeignKey:
    """A reference from a commune schema to a public identity model (``"shared_identity.Family"``,
    ``settings.AUTH_USER_MODEL``…): indexed, no database constraint, and no reverse accessor or
    cascade, since the public side cannot see the commune schemas. A column that only records
    who did something passes ``db_index=False``: nothing searches by it, and every index is a
    relation in each of thousands of schemas."""
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", **options
    )
