import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from foyer.errors import FoyerError
from operators.services import provision_commune
from shared_identity.models import Invitation
from tenants import schemas
from tenants.models import Commune, Domain


def _nothing_created(slug: str, domain: str | None = None) -> bool:
    return (
        not Commune.objects.filter(slug=slug).exists()
        and not schema_exists(f"c_{slug.replace('-', '_')}")
        and (domain is None or not Domain.objects.filter(domain=domain).exists())
    )


def test_provision_clones_the_template_and_invites_the_admin(db, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        commune = provision_commune(
            name="Ville-Neuve",
            slug="ville-neuve",
            admin_email="Maire@Ville-Neuve.fr",
            domain="famille.ville-neuve.fr",
            insee_code="38001",
        )
    # then the schema exists and is fully migrated, without running migrations
    assert commune.schema_name == "c_ville_neuve"
    assert schemas.schemas_behind([commune.schema_name]) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM c_ville_neuve.reservations_prestation")
        assert cursor.fetchone()[0] == 0
    assert list(commune.domains.values_list("domain", flat=True)) == ["famille.ville-neuve.fr"]
    invitation = Invitation.objects.get(commune=commune)
    assert (invitation.kind, invitation.role, invitation.email) == ("staff", "admin", "maire@ville-neuve.fr")
    assert invitation.delivery == Invitation.Delivery.SENT
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["maire@ville-neuve.fr"]
    assert "/c/ville-neuve/console/invitation/" in mail.outbox[0].body


@pytest.mark.parametrize("slug", ["Bad Slug", "é-accent", "-tiret", "a", "public", "x" * 51])
def test_bad_slug_is_refused_and_nothing_is_created(db, slug):
    with pytest.raises(FoyerError) as error:
        provision_commune(name="Quelque part", slug=slug, admin_email="a@b.fr")
    assert "slug" in error.value.field_errors
    assert Commune.objects.count() == 2


def test_duplicate_slug_is_refused(db, commune_a):
    with pytest.raises(FoyerError) as error:
        provision_commune(name="Autre", slug=commune_a.slug, admin_email="a@b.fr")
    assert error.value.field_errors["slug"] == ["Cet identifiant est déjà pris par une autre commune."]
    assert Commune.objects.count() == 2


def test_duplicate_domain_is_refused_and_nothing_is_created(db, commune_a):
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a)
    with pytest.raises(FoyerError) as error:
        provision_commune(name="Autre", slug="autre", admin_email="a@b.fr", domain="famille.jolieville.fr")
    assert error.value.field_errors["domain"] == ["Ce domaine est déjà utilisé par une autre commune."]
    assert _nothing_created("autre")


def test_bad_email_and_insee_are_refused(db):
    with pytest.raises(FoyerError) as error:
        provision_commune(name="Autre", slug="autre", admin_email="pas-un-email", insee_code="123")
    assert set(error.value.field_errors) == {"admin_email", "insee_code"}
    assert _nothing_created("autre")


def test_failure_midway_leaves_no_half_made_commune(db, monkeypatch):
    # given the last step of provisioning fails (after the schema was cloned)
    def broken(**kwargs):
        raise RuntimeError("SMTP down while inviting")

    monkeypatch.setattr("operators.services.invite_staff", broken)
    # when
    with pytest.raises(RuntimeError):
        provision_commune(name="Mi-chemin", slug="mi-chemin", admin_email="a@b.fr", domain="mi-chemin.fr")
    # then neither the row, nor the schema, nor the domain exist
    assert _nothing_created("mi-chemin", "mi-chemin.fr")
    assert not Invitation.objects.exists()


def test_create_commune_command_reports_errors_in_french(db):
    with pytest.raises(CommandError, match="corrigez les erreurs"):
        call_command("create_commune", name="X", slug="Bad Slug", admin_email="x@y.fr")
    assert Commune.objects.count() == 2


def test_create_commune_command_provisions(db, capsys):
    call_command("create_commune", name="Bourg", slug="bourg", admin_email="admin@bourg.fr")
    assert "c_bourg" in capsys.readouterr().out
    assert schema_exists("c_bourg")


def _structure(schema: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, is_nullable, is_identity, column_default "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
            [schema],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT t.relname, con.conname, con.contype, replace(pg_get_constraintdef(con.oid), %s, '') "
            "FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid "
            "WHERE con.connamespace = %s::regnamespace ORDER BY 1, 2",
            [f"{schema}.", schema],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, replace(indexdef, %s, '') FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
            [f"{schema}.", schema],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"SELECT app, name FROM {schema}.django_migrations ORDER BY 1, 2")
        migrations = cursor.fetchall()
    return {"columns": columns, "constraints": constraints, "indexes": indexes, "migrations": migrations}


def test_a_clone_is_the_template_to_the_last_index_name(db, commune_a):
    # given the template and a commune cloned from it
    template = _structure(schemas.TEMPLATE_SCHEMA)
    clone = _structure(commune_a.schema_name)
    # then tables, columns, constraints, indexes (with their names) and migration records match
    assert template["columns"] and template["indexes"] and template["migrations"]
    assert clone == template


def test_cloned_communes_number_their_rows_independently(db, commune_a, commune_b):
    from reservations.models import Service
    from tenants.context import commune_context

    # given a row in commune B
    with commune_context(commune_b):
        first_b = Service.objects.create(name="Cantine")
    # when commune A numbers rows of its own
    with commune_context(commune_a):
        for index in range(3):
            Service.objects.create(name=f"Service {index}")
    # then commune B's numbering did not move
    with commune_context(commune_b):
        assert Service.objects.create(name="Garderie").pk == first_b.pk + 1


def test_a_template_with_objects_the_clone_cannot_copy_is_refused(db):
    # given a migration that adds a view to the template (a new migration state: the clone
    # reads the template's catalogue again)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE VIEW {schemas.TEMPLATE_SCHEMA}.oops AS SELECT 1 AS one")
        cursor.execute(
            f"INSERT INTO {schemas.TEMPLATE_SCHEMA}.django_migrations (app, name, applied) "
            "VALUES ('reservations', '9999_a_view', now())"
        )
    with pytest.raises(RuntimeError, match="view oops"):
        provision_commune(name="Vue", slug="vue", admin_email="a@b.fr")
    assert _nothing_created("vue")


def test_the_template_catalogue_is_read_once_per_migration_state(db, django_assert_num_queries):
    provision_commune(name="Première", slug="premiere", admin_email="a@b.fr")
    # a second clone reads only the template's migration state, then sends the clone itself
    with django_assert_num_queries(2):
        schemas.clone_template("c_seconde")
    assert schemas.schemas_behind(["c_seconde"]) == []
    # and so does another process: the plan is shared through the cache
    schemas._clone_plans.clear()
    with django_assert_num_queries(2):
        schemas.clone_template("c_troisieme")
    assert schemas.schemas_behind(["c_troisieme"]) == []


# A stand-in for Citus' citus_schema_distribute(regnamespace): it records the schema it was given
# and how many tables that schema held at that moment (the test's transaction drops it again).
_CITUS_STAND_IN = """
CREATE TABLE public.test_citus_calls (schema_name text, tables bigint);
CREATE FUNCTION public.citus_schema_distribute(schemaname regnamespace) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO public.test_citus_calls
  SELECT schemaname::text, (SELECT count(*) FROM pg_class WHERE relnamespace = schemaname AND relkind = 'r')
$$;
"""


def _citus_calls() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT schema_name, tables FROM public.test_citus_calls")
        return cursor.fetchall()


def _template_tables() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            [schemas.TEMPLATE_SCHEMA],
        )
        return cursor.fetchone()[0]


def test_on_citus_the_cloned_schema_is_distributed_once_complete(db, settings):
    # given a Citus cluster (FOYER_CITUS), here a stand-in for citus_schema_distribute
    settings.FOYER_CITUS = True
    with connection.cursor() as cursor:
        cursor.execute(_CITUS_STAND_IN)
    # when a commune is provisioned
    commune = provision_commune(name="Ville-Répartie", slug="ville-repartie", admin_email="a@b.fr")
    # then its schema was distributed once, after every table of the template was cloned into it
    assert _citus_calls() == [("c_ville_repartie", _template_tables())]
    assert schemas.schemas_behind([commune.schema_name]) == []


def test_on_plain_postgresql_nothing_is_distributed(db, settings):
    # given the default setting, and a database that would answer citus_schema_distribute
    assert settings.FOYER_CITUS is False
    with connection.cursor() as cursor:
        cursor.execute(_CITUS_STAND_IN)
    # when a commune is provisioned
    provision_commune(name="Ville-Simple", slug="ville-simple", admin_email="a@b.fr")
    # then nothing asked Citus anything
    assert _citus_calls() == []


def test_a_failed_distribution_leaves_no_half_made_commune(db, settings):
    # given Citus refuses to distribute the schema (e.g. a foreign key to a public table that is
    # not a reference table yet)
    settings.FOYER_CITUS = True
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.citus_schema_distribute(schemaname regnamespace) RETURNS void "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'foreign keys from distributed schemas can only "
            "point to the same distributed schema or reference tables in regular schemas'; END $$"
        )
    # when
    with pytest.raises(Exception, match="reference tables"):
        provision_commune(name="Ville-Refusée", slug="ville-refusee", admin_email="a@b.fr")
    # then the commune row, its schema and its invitation are gone with the transaction
    assert _nothing_created("ville-refusee")
    assert not Invitation.objects.filter(email="a@b.fr").exists()
