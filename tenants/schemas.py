"""Schema-level tools: the template schema, migration state of every schema in one query,
cloning a commune schema from the template, and migrating the schemas that are behind."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

TEMPLATE_SCHEMA = settings.TENANT_BASE_SCHEMA


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"Refusing to quote an unexpected schema name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def union_over_schemas(part: str, schema_names: Iterable[str], *params) -> tuple[str, list]:
    """The family router's building block: ``part`` once per schema (``{s}`` is its quoted
    name), joined with UNION ALL. Each part's parameters are its schema name, then ``params``."""
    names = list(schema_names)
    sql = " UNION ALL ".join(part.format(s=quote_ident(name)) for name in names)
    return sql, [value for name in names for value in (name, *params)]


@functools.cache
def expected_migrations() -> frozenset[tuple[str, str]]:
    """Every (app, name) migration on disk. django-tenants records all of them in each schema."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.disk_migrations.keys())


# Schemas per statement of schemas_behind: PostgreSQL plans a UNION ALL of n parts in more
# than linear time (5,000 schemas: 33 s in one statement, 0.5 s in statements of 100).
SCHEMAS_PER_STATEMENT = 100


def schemas_behind(schema_names: Iterable[str]) -> list[str]:
    """The schemas whose django_migrations lacks a migration on disk, in one SQL query per
    ``SCHEMAS_PER_STATEMENT`` schemas."""
    names = [name for name in schema_names]
    if not names:
        return []
    expected = expected_migrations()
    existing = _existing_migration_tables(names)
    behind = [name for name in names if name not in existing]
    present = [name for name in names if name in existing]
    apps = sorted({app for app, _ in expected})
    applied: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(present), SCHEMAS_PER_STATEMENT):
            chunk = present[start : start + SCHEMAS_PER_STATEMENT]
            union = " UNION ALL ".join(
                f"SELECT %s AS schema_name, app, name FROM {quote_ident(name)}.django_migrations"
                for name in chunk
            )
            cursor.execute(
                f"SELECT schema_name, array_agg(app || '.' || name) FROM ({union}) AS m "
                "WHERE app = ANY(%s) GROUP BY schema_name",
                [*chunk, apps],
            )
            applied |= {row[0]: set(row[1] or []) for row in cursor.fetchall()}
    wanted = {f"{app}.{name}" for app, name in expected}
    behind += [name for name in present if not wanted <= applied.get(name, set())]
    return behind


def _existing_migration_tables(names: list[str]) -> set[str]:
    # to_regclass is an index lookup per name; information_schema would scan every relation
    # of the server (pg_class grows by ~250 rows a commune).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name "
            "WHERE to_regclass(quote_ident(name) || '.django_migrations') IS NOT NULL",
            [names],
        )
        return {row[0] for row in cursor.fetchall()}


def migrate_schema(schema_name: str) -> int:
    """Apply the missing migrations to one commune (or the template) schema.

    Returns the number of migrations applied. Runs in the caller's process and connection.
    """
    if not schema_exists(schema_name):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {quote_ident(schema_name)}")
    connection.set_schema(schema_name, include_public=False)
    try:
        executor = MigrationExecutor(connection)
        executor.recorder.ensure_schema()
        connection.set_schema(schema_name)
        executor = MigrationExecutor(connection)
        targets = executor.loader.graph.leaf_nodes()
        plan = executor.migration_plan(targets)
        if plan:
            executor.migrate(targets, plan=plan)
        return len(plan)
    finally:
        connection.set_schema_to_public()


def ensure_template_schema() -> int:
    """Create or migrate the template schema new communes are cloned from.

    The template has no commune row, so django-tenants' migrate_schemas never sees it:
    every path that migrates communes migrates it first.
    """
    if schema_exists(TEMPLATE_SCHEMA) and not schemas_behind([TEMPLATE_SCHEMA]):
        return 0
    return migrate_schema(TEMPLATE_SCHEMA)


@dataclass(frozen=True)
class ClonePlan:
    """What a clone of the template needs to know of its catalogue, read once per migration
    state of the template (``template_state``) rather than once per commune: those catalogue
    reads scan pg_class and pg_constraint, which grow with every commune on the server."""

    tables: tuple[str, ...]
    constraints: tuple[tuple[str, str, str], ...]
    indexes: tuple[str, ...]
    identities: tuple[tuple[str, str], ...]
    foreign_keys: tuple[tuple[str, str, str], ...]
    triggers: tuple[str, ...]


_clone_plans: dict[tuple, ClonePlan] = {}


def template_state(cursor) -> tuple:
    """The template's migration state, in one indexed read: a migration applied to it (the
    only way its tables change) changes the state, so a plan read for an older one is not used.
    The time of the last one tells apart two databases, or a template made again."""
    cursor.execute(
        f"SELECT count(*), max(id), max(applied) FROM {quote_ident(TEMPLATE_SCHEMA)}.django_migrations"
    )
    count, last_id, last_applied = cursor.fetchone()
    return (connection.settings_dict["NAME"], TEMPLATE_SCHEMA, count, last_id, str(last_applied))


def clone_plan(cursor) -> ClonePlan:
    """The plan for the template's current state: from this process, else from the shared
    cache (a plan read by another process), else read from the catalogue (seconds at a few
    thousand communes) and shared."""
    state = template_state(cursor)
    plan = _clone_plans.get(state)
    cache_key = "foyer:clone-plan:" + hashlib.sha256(repr(state).encode()).hexdigest()[:32]
    if plan is None:
        plan = _shared_plan(cache_key)
    if plan is None:
        cursor.execute(_TEMPLATE_OBJECTS, [TEMPLATE_SCHEMA])
        tables, constraints, indexes, identities, triggers, unsupported = cursor.fetchone()
        if unsupported:
            raise RuntimeError(f"The template schema holds objects the clone does not copy: {unsupported}")
        cursor.execute(_TEMPLATE_FOREIGN_KEYS, [TEMPLATE_SCHEMA])
        foreign_keys = cursor.fetchall()
        plan = ClonePlan(
            tables=tuple(tables or ()),
            constraints=tuple(map(tuple, constraints or ())),
            indexes=tuple(indexes or ()),
            identities=tuple(map(tuple, identities or ())),
            foreign_keys=tuple(map(tuple, foreign_keys)),
            triggers=tuple(triggers or ()),
        )
        _share_plan(cache_key, plan)
    if state not in _clone_plans:
        _clone_plans.clear()
        _clone_plans[state] = plan
    return plan


def _shared_plan(key: str) -> ClonePlan | None:
    try:
        plan = cache.get(key)
    except Exception:  # the cache is an optimisation: without Redis, read the catalogue
        return None
    return plan if isinstance(plan, ClonePlan) else None


def _share_plan(key: str, plan: ClonePlan) -> None:
    with contextlib.suppress(Exception):
        cache.set(key, plan, timeout=7 * 24 * 3600)


def clone_template(schema_name: str) -> None:
    """Copy the migrated template schema to a new schema: tables, constraints and indexes
    under their own names, and the rows (the migration records).

    Runs inside the caller's transaction: PostgreSQL DDL is transactional, so a failure
    later in provisioning leaves no schema behind. It sends a fixed handful of statements,
    whatever the number of tables, and refuses a template holding objects it does not copy
    (views, functions, free-standing sequences) rather than clone it partly. Triggers are
    copied; their functions live in the public schema (the audit log's append-only guard).
    The template's catalogue is read once per migration state (``clone_plan``), so a clone
    costs the same with ten communes on the server as with five thousand. With
    ``FOYER_CITUS`` the new schema is then distributed (``distribute_schema``).
    """
    if connection.schema_name != "public":
        raise RuntimeError("Clone communes from the public schema.")
    src, dst = quote_ident(TEMPLATE_SCHEMA), quote_ident(schema_name)
    source_prefix = f"{TEMPLATE_SCHEMA}."
    with connection.cursor() as cursor:
        plan = clone_plan(cursor)
        statements = [f"CREATE SCHEMA {dst}"]
        statements += [
            f"CREATE TABLE {dst}.{quote_ident(table)} (LIKE {src}.{quote_ident(table)} "
            "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED)"
            for table in plan.tables
        ]
        statements += [
            f"INSERT INTO {dst}.{quote_ident(table)} OVERRIDING SYSTEM VALUE SELECT * FROM {src}.{quote_ident(table)}"
            for table in plan.tables
        ]
        # Index-backed constraints (primary keys, unique) keep their names, then plain indexes.
        statements += [
            f"ALTER TABLE {dst}.{quote_ident(table)} ADD CONSTRAINT {quote_ident(name)} {definition}"
            for table, name, definition in plan.constraints
        ]
        statements += [
            definition.replace(f" ON {source_prefix}", f" ON {dst}.", 1) for definition in plan.indexes
        ]
        statements += [
            f"SELECT setval(pg_get_serial_sequence('{dst}.{quote_ident(table)}', '{column}'), "
            f"COALESCE((SELECT max({quote_ident(column)}) FROM {dst}.{quote_ident(table)}), 0) + 1, false)"
            for table, column in plan.identities
        ]
        # Foreign keys last, once every table exists; references to the template's own
        # tables are pointed at the new schema (commune schemas hold none to public tables:
        # tenants.references).
        statements += [
            f"ALTER TABLE {dst}.{quote_ident(table)} ADD CONSTRAINT {quote_ident(name)} "
            + definition.replace(f"REFERENCES {source_prefix}", f"REFERENCES {dst}.")
            for table, name, definition in plan.foreign_keys
        ]
        statements += [
            definition.replace(f" ON {source_prefix}", f" ON {dst}.", 1) for definition in plan.triggers
        ]
        cursor.execute(";\n".join(statements))
    if getattr(settings, "FOYER_CITUS", False):
        distribute_schema(schema_name)


def distribute_schema(schema_name: str) -> None:
    """On Citus (``FOYER_CITUS``): make a commune schema a distributed schema. Its tables become
    one colocated group of single-shard tables on a worker, and the tables later migrations add
    to it join that group by themselves. Called by ``clone_template`` inside the provisioning
    transaction, once every table, index and foreign key exists; the template itself stays a
    regular schema on the coordinator (docs/scaling.md)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT citus_schema_distribute(%s::regnamespace)", [quote_ident(schema_name)])


# Everything about the template in one round trip. Constraint definitions are read with the
# public search_path, so the template's own tables come out qualified by its name.
_TEMPLATE_OBJECTS = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = %s)
SELECT
  (SELECT array_agg(c.relname ORDER BY c.relname) FROM pg_class c, ns
    WHERE c.relnamespace = ns.oid AND c.relkind = 'r'),
  (SELECT array_agg(ARRAY[t.relname, con.conname, pg_get_constraintdef(con.oid)] ORDER BY t.relname, con.conname)
    FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid, ns
    WHERE con.connamespace = ns.oid AND con.contype IN ('p', 'u', 'x')),
  (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY ic.relname)
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid, ns
    WHERE ic.relnamespace = ns.oid
      AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))),
  (SELECT array_agg(ARRAY[c.relname, a.attname::text]) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid, ns
    WHERE c.relnamespace = ns.oid AND c.relkind = 'r' AND a.attidentity <> '' AND NOT a.attisdropped),
  (SELECT array_agg(pg_get_triggerdef(tg.oid) ORDER BY tg.tgname) FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid, ns
    WHERE c.relnamespace = ns.oid AND NOT tg.tgisinternal),
  (SELECT string_agg(DISTINCT kind, ', ') FROM (
      SELECT 'view ' || c.relname AS kind FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('v', 'm', 'f', 'p')
      UNION ALL
      SELECT 'sequence ' || c.relname FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind = 'S'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
      UNION ALL
      SELECT 'function ' || p.proname FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
  ) AS objects)
"""

_TEMPLATE_FOREIGN_KEYS = """
SELECT t.relname, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = con.connamespace
WHERE n.nspname = %s AND con.contype = 'f'
ORDER BY t.relname, con.conname
"""
