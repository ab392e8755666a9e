"""migrate_communes: one query to find the schemas behind, then only those are migrated."""

from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from operators.services import provision_commune
from tenants import schemas
from tenants.models import Commune


def _actualites_migrations() -> int:
    return sum(
        1
        for app, _name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations
        if app == "actualites"
    )


def _break(schema_name: str) -> None:
    """Make a commune schema behind: drop its actualites tables (a leaf app) and their records."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(format('%%I.%%I', table_schema, table_name), ', ') FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE 'actualites%%'",
            [schema_name],
        )
        cursor.execute(f"DROP TABLE {cursor.fetchone()[0]} CASCADE")
        cursor.execute(f"DELETE FROM {schema_name}.django_migrations WHERE app = 'actualites'")


def test_schemas_behind_costs_the_same_queries_for_any_number_of_schemas(db, commune_a, commune_b):
    all_names = [commune_a.schema_name, commune_b.schema_name, schemas.TEMPLATE_SCHEMA]
    with CaptureQueriesContext(connection) as one:
        assert schemas.schemas_behind([commune_a.schema_name]) == []
    with CaptureQueriesContext(connection) as three:
        assert schemas.schemas_behind(all_names) == []
    assert len(one) == len(three) == 2


def test_schemas_behind_reads_many_schemas_in_statements_of_bounded_size(
    db, commune_a, commune_b, monkeypatch
):
    # given statements of two schemas, and the second commune behind
    monkeypatch.setattr(schemas, "SCHEMAS_PER_STATEMENT", 2)
    _break(commune_b.schema_name)
    names = [schemas.TEMPLATE_SCHEMA, commune_a.schema_name, commune_b.schema_name]
    # when three schemas are checked
    with CaptureQueriesContext(connection) as queries:
        behind = schemas.schemas_behind(names)
    # then the one behind is found, with one statement per two schemas (and the tables' lookup)
    assert behind == [commune_b.schema_name]
    assert len(queries) == 1 + 2


def test_a_schema_behind_is_found_and_migrated(db, commune_a, commune_b):
    _break(commune_b.schema_name)
    assert schemas.schemas_behind([commune_a.schema_name, commune_b.schema_name]) == [commune_b.schema_name]
    assert schemas.migrate_schema(commune_b.schema_name) == _actualites_migrations()
    assert schemas.schemas_behind([commune_b.schema_name]) == []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {commune_b.schema_name}.actualites_newsitem")
        assert cursor.fetchone()[0] == 0


def test_migrate_communes_migrates_only_those_behind_in_parallel(committed_db, capsys):
    for slug in ("amont", "aval", "rive"):
        provision_commune(name=slug.title(), slug=slug, admin_email=f"admin@{slug}.test")
    _break("c_amont")
    _break("c_aval")
    call_command("migrate_communes", jobs=2, no_progress=True)
    out = capsys.readouterr().out
    assert "5 commune(s), 2 à migrer." in out
    names = list(Commune.objects.values_list("schema_name", flat=True))
    assert schemas.schemas_behind(names) == []


def test_a_no_op_run_migrates_nothing(db, capsys):
    call_command("migrate_communes", skip_public=True, no_progress=True)
    assert "2 commune(s), 0 à migrer." in capsys.readouterr().out
