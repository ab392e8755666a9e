"""The one place where identity rows that commune schemas point at are repointed or deleted,
and the check that finds commune rows pointing at nothing.

Commune schemas keep plain indexed ids of public accounts, families and children
(``tenants.references.identity_key``), without a database foreign key: the integrity those
keys gave is kept here. Every commune the family belongs to is handled, in one SQL statement
over their schemas, whatever their number."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection
from django.utils import timezone

from shared_identity.models import Child, Family, Guardian, Membership
from tenants.schemas import quote_ident
from tenants.selectors import list_commune_schema_names

logger = logging.getLogger(__name__)

ORPHANS_REPORT_KEY = "foyer:identity:orphans"
# Schemas per statement of the orphan check: each adds one subquery per reference.
ORPHAN_CHECK_BATCH = 40


@dataclass(frozen=True)
class Reference:
    """A commune table's column holding the id of a public identity row."""

    table: str
    column: str
    target: str  # the public table
    target_model: str  # "shared_identity.family"

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True, order=True)
class Orphan:
    schema_name: str
    reference: str
    count: int


@functools.cache
def identity_references() -> tuple[Reference, ...]:
    """Every column of the commune apps that points at a public model without a constraint."""
    tenant_labels = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS}
    found = []
    for label in sorted(tenant_labels):
        for model in apps.get_app_config(label).get_models():
            for field in model._meta.concrete_fields:
                target = field.related_model if field.many_to_one or field.one_to_one else None
                if target is None or target._meta.app_label in tenant_labels:
                    continue
                found.append(
                    Reference(
                        model._meta.db_table, field.column, target._meta.db_table, target._meta.label_lower
                    )
                )
    return tuple(found)


def references_to(model) -> list[Reference]:
    return [ref for ref in identity_references() if ref.target_model == model._meta.label_lower]


def commune_schemas_of(family: Family) -> list[str]:
    return list(
        Membership.objects.filter(family=family)
        .order_by("commune__schema_name")
        .values_list("commune__schema_name", flat=True)
        .distinct()
    )


def count_references(model, ids: Iterable[int], schema_names: Sequence[str]) -> list[Orphan]:
    """The commune rows of ``schema_names`` that point at these rows of ``model``, counted per
    schema and column (only those that exist), in one statement."""
    ids = sorted(set(ids))
    parts, params = [], []
    for name in schema_names if ids else ():
        for ref in references_to(model):
            parts.append(
                f"SELECT %s, %s, count(*) FROM {quote_ident(name)}.{quote_ident(ref.table)} "
                f"WHERE {quote_ident(ref.column)} = ANY(%s)"
            )
            params += [name, ref.label, ids]
    return _counted(parts, params)


def _counted(parts: list[str], params: list) -> list[Orphan]:
    if not parts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS found (s, ref, n) WHERE n > 0", params
        )
        return [Orphan(*row) for row in cursor.fetchall()]


def repoint_family(
    *, old: Family, new: Family, same_child: dict[int, int], schema_names: Sequence[str]
) -> None:
    """Every row of these communes that points at ``old`` (and at its children listed in
    ``same_child``) points at ``new`` (and at the children they are) afterwards."""
    moves = [(ref, new.pk, old.pk) for ref in references_to(Family)]
    moves += [(ref, to, of) for of, to in same_child.items() for ref in references_to(Child)]
    statements, params = [], []
    for name in schema_names:
        for ref, to, of in moves:
            column = quote_ident(ref.column)
            statements.append(
                f"UPDATE {quote_ident(name)}.{quote_ident(ref.table)} SET {column} = %s WHERE {column} = %s"
            )
            params += [to, of]
    if statements:
        with connection.cursor() as cursor:
            cursor.execute(";\n".join(statements), params)


def delete_family_rows(
    *,
    family: Family | None = None,
    children: Iterable[int] = (),
    guardians: Iterable[int] = (),
    schema_names: Sequence[str],
) -> None:
    """Delete identity rows once nothing in ``schema_names`` (every commune the family belongs
    to) points at them; refuses, and deletes nothing, when something still does."""
    children = sorted(set(children))
    still = count_references(Child, children, schema_names)
    if family is not None:
        still += count_references(Family, [family.pk], schema_names)
    if still:
        raise IntegrityError(
            "Identity rows still referenced: "
            + ", ".join(f"{o.schema_name}.{o.reference} ({o.count})" for o in still)
        )
    Guardian.objects.filter(pk__in=list(guardians)).delete()
    Child.objects.filter(pk__in=children).delete()
    if family is not None:
        Family.objects.filter(pk=family.pk).delete()


def find_orphans(schema_names: Sequence[str] | None = None) -> list[Orphan]:
    """Commune rows whose identity id points at no public row, counted per schema and column.
    One statement per ``ORPHAN_CHECK_BATCH`` schemas."""
    names = list_commune_schema_names() if schema_names is None else list(schema_names)
    found: list[Orphan] = []
    for start in range(0, len(names), ORPHAN_CHECK_BATCH):
        parts, params = [], []
        for name in names[start : start + ORPHAN_CHECK_BATCH]:
            for ref in identity_references():
                column = quote_ident(ref.column)
                parts.append(
                    f"SELECT %s, %s, count(*) FROM {quote_ident(name)}.{quote_ident(ref.table)} AS t "
                    f"WHERE t.{column} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM public.{quote_ident(ref.target)} AS p WHERE p.id = t.{column})"
                )
                params += [name, ref.label]
        found += _counted(parts, params)
    return found


def check_identity_references(*, now: dt.datetime | None = None) -> list[Orphan]:
    """The periodic check: find orphans in every commune, log them, keep the report for the
    operators' health page."""
    orphans = find_orphans()
    for orphan in orphans:
        logger.error(
            "Identity reference to nothing: %s.%s (%s rows)",
            orphan.schema_name,
            orphan.reference,
            orphan.count,
        )
    cache.set(
        ORPHANS_REPORT_KEY,
        {
            "checked_at": (now or timezone.now()).isoformat(),
            "orphans": [[o.schema_name, o.reference, o.count] for o in orphans],
        },
        timeout=None,
    )
    return orphans
