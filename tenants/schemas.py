"""Schema-level tools: the template schema, migration state of every schema in one query,
cloning a commune schema from the template, and migrating the schemas that are behind."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

TEMPLATE_SCHEMA = settings.TENANT_BASE_SCHEMA


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"Refusing to quote an unexpected schema name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def expected_migrations() -> frozenset[tuple[str, str]]:
    """Every (app, name) migration on disk. django-tenants records all of them in each schema."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.disk_migrations.keys())


def schemas_behind(schema_names: Iterable[str]) -> list[str]:
    """The schemas whose django_migrations lacks a migration on disk, in one SQL query."""
    names = [name for name in schema_names]
    if not names:
        return []
    expected = expected_migrations()
    existing = _existing_migration_tables(names)
    behind = [name for name in names if name not in existing]
    present = [name for name in names if name in existing]
    if not present:
        return behind
    union = " UNION ALL ".join(
        f"SELECT %s AS schema_name, app, name FROM {quote_ident(name)}.django_migrations" for name in present
    )
    apps = sorted({app for app, _ in expected})
    sql = (
        f"SELECT schema_name, array_agg(app || '.' || name) FROM ({union}) AS m "
        "WHERE app = ANY(%s) GROUP BY schema_name"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*present, apps])
        applied = {row[0]: set(row[1] or []) for row in cursor.fetchall()}
    wanted = {f"{app}.{name}" for app, name in expected}
    behind += [name for name in present if not wanted <= applied.get(name, set())]
    return behind


def _existing_migration_tables(names: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'django_migrations' AND table_schema = ANY(%s)",
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


def clone_template(schema_name: str) -> None:
    """Copy the migrated template schema (tables and its migration records) to a new schema.

    Runs inside the caller's transaction: PostgreSQL DDL is transactional, so a failure
    later in provisioning leaves no schema behind.
    """
    from django_tenants.clone import CLONE_SCHEMA_FUNCTION

    with connection.cursor() as cursor:
        # django-tenants' clone_schema() is a large PL/pgSQL function: install it once per
        # database, not once per commune.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname = 'clone_schema')"
        )
        if not cursor.fetchone()[0]:
            db_user = connection.settings_dict.get("USER") or "postgres"
            cursor.execute(CLONE_SCHEMA_FUNCTION.format(db_user=db_user))
        cursor.execute("SELECT public.clone_schema(%s, %s, 'DATA')", [TEMPLATE_SCHEMA, schema_name])
