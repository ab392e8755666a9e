"""The operator console: platform operators only; the communes list (one round trip over the
page's commune schemas), a commune's page (suspension, domain), and the health page."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import InvoicingRun, Regie
from foyer.celery import app as celery_app
from foyer.errors import FoyerError
from operators.health import BEAT_LATE_AFTER, broker_redis_url, get_platform_health
from operators.models import TaskFailure
from operators.services import change_commune_domain, provision_commune, remove_commune_domain
from operators.tasks import BEAT_HEARTBEAT_KEY
from shared_identity.models import Membership, StaffRole
from tenants.context import commune_context
from tenants.models import Commune, Domain
from tenants.tasks import TenantTask
from tenants.validation import clean_hostname
from tests.conftest import commune_path, login_verified, make_family, make_operator, make_staff


@celery_app.task(base=TenantTask, name="tests.operator_console.explode")
def explode(reason: str) -> None:
    raise RuntimeError(reason)


@pytest.fixture
def operator(db):
    return make_operator("ops@foyer.test")


@pytest.fixture
def ops_client(client, operator):
    login_verified(client, operator)
    return client


def _page(response) -> str:
    return html.unescape(response.content.decode())


def _row(page: str, name: str) -> str:
    """The table row of one commune on the list page, tags stripped, spaces collapsed."""
    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if f">{name}</a>" in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row for {name}")


def _break_billing(schema_name: str) -> None:
    """A commune schema behind on migrations: its billing tables and their record are gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(format('%%I.%%I', table_schema, table_name), ', ') FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE 'billing%%'",
            [schema_name],
        )
        cursor.execute(f"DROP TABLE {cursor.fetchone()[0]} CASCADE")
        cursor.execute(f"DELETE FROM {schema_name}.django_migrations WHERE app = 'billing'")


def _without_set_search_path(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith("SET SEARCH_PATH")]


# --- Access -------------------------------------------------------------------------------------


def _operator_urls(commune: Commune, domain: Domain) -> list[tuple[str, str]]:
    base = f"/operateur/communes/{commune.pk}"
    return [
        ("get", "/operateur/"),
        ("get", "/operateur/sante/"),
        ("get", "/operateur/communes/nouvelle/"),
        ("get", f"{base}/"),
        ("post", "/operateur/communes/nouvelle/"),
        ("post", f"{base}/suspendre/"),
        ("post", f"{base}/reactiver/"),
        ("post", f"{base}/domaine/"),
        ("post", f"{base}/domaines/{domain.pk}/retirer/"),
    ]


def test_operator_console_is_for_operators_only(client, commune_a, commune_b):
    # given a family, an agent, a commune admin (of A and of B) and a domain of A
    domain = Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a)
    family = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    agent = make_staff(commune_a, "agent@jolieville.test")
    admin_a = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    admin_b = make_staff(commune_b, "chef@demo.test", role=StaffRole.Role.ADMIN)
    urls = _operator_urls(commune_a, domain)
    # when nobody is signed in, then every page sends to the login page
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/connexion/?next=")
    # when others are signed in, then the console does not exist for them (404), and nothing changes
    for account in (family, agent, admin_a, admin_b):
        client.force_login(account)
        for method, url in urls:
            data = {"reason": "Piratage", "domain": "pirate.example.fr", "name": "X", "slug": "x"}
            response = getattr(client, method)(url, data) if method == "post" else client.get(url)
            assert response.status_code == 404, (account.email, url)
    commune_a.refresh_from_db()
    assert commune_a.is_active
    assert list(Domain.objects.values_list("domain", flat=True)) == ["famille.jolieville.fr"]
    assert Commune.objects.count() == 2


def test_unknown_commune_is_a_404(ops_client):
    assert ops_client.get("/operateur/communes/999999/").status_code == 404
    assert ops_client.post("/operateur/communes/999999/suspendre/", {"reason": "x"}).status_code == 404


# --- Provisioning (the same service as create_commune) -------------------------------------------


def test_operator_provisions_a_commune_through_the_console(ops_client, django_capture_on_commit_callbacks):
    # when the operator creates a commune with a custom domain
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            "/operateur/communes/nouvelle/",
            {
                "name": "Saint-Village",
                "slug": "saint-village",
                "kind": "commune",
                "insee_code": "38999",
                "admin_email": "maire@saint-village.fr",
                "domain": "Famille.Saint-Village.fr",
            },
        )
    # then it exists, with its schema, its domain (normalised) and an admin invitation
    commune = Commune.objects.get(slug="saint-village")
    assert response.status_code == 302
    assert response["Location"] == f"/operateur/communes/{commune.pk}/"
    assert list(commune.domains.values_list("domain", "is_primary")) == [("famille.saint-village.fr", True)]
    page = _page(ops_client.get("/operateur/"))
    assert "Saint-Village" in _row(page, "Saint-Village")
    assert "À jour" in _row(page, "Saint-Village")


def test_operator_console_shows_errors_and_creates_nothing(ops_client, commune_a):
    response = ops_client.post(
        "/operateur/communes/nouvelle/",
        {
            "name": "Doublon",
            "slug": "jolieville",
            "kind": "commune",
            "admin_email": "a@b.fr",
            "domain": "https://famille.doublon.fr/",
        },
    )
    page = _page(response)
    assert response.status_code == 200
    assert "Cet identifiant est déjà pris par une autre commune." in page
    assert "sans « https:// », chemin ni port" in page
    assert 'value="Doublon"' in page  # what the operator typed is still there
    assert Commune.objects.count() == 2
    assert not Domain.objects.exists()


# --- The communes list ---------------------------------------------------------------------------


def test_list_shows_status_families_last_run_payment_account_and_migrations(ops_client, commune_a, commune_b):
    # given JolieVille: 2 active families and 1 invited, a live Mollie key, an issued run
    make_family(commune_a, email="a1@example.fr", dossier="F1")
    make_family(commune_a, email="a2@example.fr", dossier="F2")
    make_family(commune_a, email="a3@example.fr", dossier="F3", active=False)
    with commune_context(commune_a):
        # not a real Fernet token: the list must show the mode without decrypting anything
        Regie.objects.update(
            regie_code="JV", online_payment=True, mollie_key_encrypted="opaque", mollie_mode="live"
        )
        InvoicingRun.objects.create(
            period_start=dt.date(2026, 9, 1),
            period_end=dt.date(2026, 9, 30),
            status="issued",
            issued_at=dt.datetime(2026, 10, 2, 9, 0, tzinfo=dt.UTC),
        )
        InvoicingRun.objects.create(period_start=dt.date(2026, 8, 1), period_end=dt.date(2026, 8, 31))
    # and Démo: suspended, one active family, PayFiP in test mode with online payment off, a draft run
    make_family(commune_b, email="b1@example.fr", dossier="F1")
    Commune.objects.filter(pk=commune_b.pk).update(status="suspended", suspension_reason="Travaux")
    with commune_context(commune_b):
        Regie.objects.update(payment_provider="payfip", payfip_numcli="123456", payfip_saisie="T")
        InvoicingRun.objects.create(period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31))
    # when the operator opens the list
    page = _page(ops_client.get("/operateur/"))
    # then each row says it all
    assert _row(page, "Commune de JolieVille") == (
        "Commune de JolieVille Commune · jolieville Active Ouverte 2 (+1 invitée) septembre 2026 émise le 02/10/2026 "
        "Mollie live À jour aucun"
    )
    assert _row(page, "Collectivité Démo") == (
        "Collectivité Démo Commune · demo Suspendue Travaux Ouverte 1 octobre 2026 brouillon "
        "PayFiP test (paiement en ligne désactivé) À jour aucun"
    )
    assert "2 collectivités" in page


def test_list_without_regie_nor_run_and_with_a_schema_behind(ops_client, commune_a, commune_b):
    # given Démo's schema lost its billing tables (behind on migrations), JolieVille has nothing yet
    _break_billing(commune_b.schema_name)
    # and a commune whose schema is missing altogether
    Commune.objects.create(name="Fantôme", slug="fantome", schema_name="c_fantome")
    page = _page(ops_client.get("/operateur/"))
    assert _row(page, "Commune de JolieVille").endswith("Active Ouverte 0 Aucune Aucun compte À jour aucun")
    assert _row(page, "Collectivité Démo").endswith(
        "Active Ouverte 0 Aucune Illisible Migrations en retard aucun"
    )
    assert _row(page, "Fantôme").endswith("Active En préparation 0 Aucune Illisible Schéma absent aucun")


def test_list_query_count_is_pinned_and_does_not_grow_with_the_communes(ops_client, commune_a, commune_b):
    # given two communes with data in their schemas
    for commune in (commune_a, commune_b):
        make_family(commune, email=f"p@{commune.slug}.fr")
        with commune_context(commune):
            Regie.objects.update(mollie_key_encrypted="opaque", mollie_mode="test")
    with CaptureQueriesContext(connection) as two:
        assert ops_client.get("/operateur/").status_code == 200
    # when there are five communes
    for index in range(3):
        commune = provision_commune(name=f"Ajout {index}", slug=f"ajout-{index}", admin_email="a@b.fr")
        make_family(commune, email=f"p{index}@ajout.fr")
    with CaptureQueriesContext(connection) as five:
        page = _page(ops_client.get("/operateur/"))
    assert "5 collectivités" in page
    # then the same 9 queries (SET search_path aside): session, account, two-factor device, count,
    # page, families, migration state (2), and the commune schemas in one UNION ALL over the five
    for captured in (two, five):
        queries = _without_set_search_path(captured)
        assert len(queries) == 9, "\n".join(queries)
        assert len(captured) <= 10
    unions = [sql for sql in _without_set_search_path(five) if "billing_regie r " in sql]
    assert len(unions) == 1 and unions[0].count(" UNION ALL ") == 4


def test_list_searches_by_name_slug_insee_domain_and_status(ops_client, commune_a, commune_b):
    Commune.objects.filter(pk=commune_a.pk).update(insee_code="38185")
    Domain.objects.create(domain="famille.syndicat-demo.fr", tenant=commune_b)
    Commune.objects.filter(pk=commune_b.pk).update(status="suspended", suspension_reason="Travaux")

    def names(**params) -> set[str]:
        page = _page(ops_client.get("/operateur/", params))
        return set(re.findall(r'<a href="/operateur/communes/\d+/">([^<]+)</a>', page))

    assert names(q="jolie") == {"Commune de JolieVille"}
    assert names(q="DEMO") == {"Collectivité Démo"}  # slug, any case
    assert names(q="38185") == {"Commune de JolieVille"}
    assert names(q="38") == {"Commune de JolieVille"}  # the INSEE code's first digits
    assert names(q="syndicat-demo.fr") == {"Collectivité Démo"}
    assert names(statut="suspended") == {"Collectivité Démo"}
    assert names(statut="active") == {"Commune de JolieVille"}
    assert names(q="jolie", statut="suspended") == set()
    assert names(statut="nimporte") == {"Commune de JolieVille", "Collectivité Démo"}
    assert "Aucune collectivité ne correspond à cette recherche." in _page(
        ops_client.get("/operateur/?q=zzz")
    )


def test_list_is_paginated_by_fifty(ops_client, commune_a, commune_b):
    # given 60 communes (58 rows without schemas: the list reads their state anyway)
    Commune.objects.bulk_create(
        Commune(name=f"Zone {index:02d}", slug=f"zone-{index:02d}", schema_name=f"c_zone_{index:02d}")
        for index in range(58)
    )
    first = _page(ops_client.get("/operateur/"))
    second = _page(ops_client.get("/operateur/", {"page": 2}))
    rows = re.compile(r'<a href="/operateur/communes/\d+/">')
    assert len(rows.findall(first)) == 50
    assert len(rows.findall(second)) == 10
    assert "60 collectivités — page 1 sur 2" in first
    assert 'href="?page=2"' in first and 'href="?page=1"' in second
    assert "Zone 57" in second


# --- A commune's page: suspension -----------------------------------------------------------------


def test_commune_page_shows_identity_activity_status_and_domains(ops_client, commune_a):
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    make_family(commune_a, email="p@example.fr")
    page = _page(ops_client.get(f"/operateur/communes/{commune_a.pk}/"))
    assert "<h1>Commune de JolieVille" in page
    assert "http://testserver/c/jolieville/" in page
    assert "<code>c_jolieville</code>" in page
    assert re.search(r"Familles actives</dt><dd>1</dd>", page)
    assert "Aucun compte" in page and "À jour" in page
    assert "famille.jolieville.fr" in page and "principal" in page
    assert "Suspendre" in page and "Changer le domaine" in page


def test_operator_suspends_with_a_reason_families_read_and_reactivates(ops_client, commune_a):
    # when the operator suspends JolieVille
    response = ops_client.post(f"/operateur/communes/{commune_a.pk}/suspendre/", {"reason": "Fin du contrat"})
    assert response.status_code == 302
    commune_a.refresh_from_db()
    assert (commune_a.status, commune_a.suspension_reason) == ("suspended", "Fin du contrat")
    assert "Fin du contrat" in _page(ops_client.get(f"/operateur/communes/{commune_a.pk}/"))
    # then a family reads the reason
    family = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client = Client()
    client.force_login(family)
    response = client.get(commune_path(commune_a))
    assert response.status_code == 503
    assert "Fin du contrat" in _page(response)
    # when the operator reactivates it, the family gets in again
    ops_client.post(f"/operateur/communes/{commune_a.pk}/reactiver/")
    commune_a.refresh_from_db()
    assert (commune_a.status, commune_a.suspension_reason) == ("active", "")
    assert client.get(commune_path(commune_a)).status_code == 200


def test_suspension_without_a_reason_is_refused_and_changes_nothing(ops_client, commune_a):
    response = ops_client.post(f"/operateur/communes/{commune_a.pk}/suspendre/", {"reason": "   "})
    assert response.status_code == 200
    assert "Indiquez le motif de la suspension : il est affiché aux familles." in _page(response)
    commune_a.refresh_from_db()
    assert commune_a.is_active and commune_a.suspension_reason == ""


# --- Domain change ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Indiquez un nom de domaine"),
        ("   ", "Indiquez un nom de domaine"),
        ("https://famille.jolieville.fr", "sans « https:// », chemin ni port"),
        ("famille.jolieville.fr/inscriptions", "sans « https:// », chemin ni port"),
        ("famille.jolieville.fr:8443", "sans « https:// », chemin ni port"),
        ("famille jolieville.fr", "sans « https:// », chemin ni port"),
        ("jolieville", "n'est pas un nom de domaine valide"),
        ("famille_jolieville.fr", "n'est pas un nom de domaine valide"),
        ("-famille.jolieville.fr", "n'est pas un nom de domaine valide"),
        ("famille..jolieville.fr", "n'est pas un nom de domaine valide"),
        ("famille.jolieville.f", "n'est pas un nom de domaine valide"),
        ("192.168.1.20", "n'est pas un nom de domaine valide"),
        ("a" * 64 + ".fr", "n'est pas un nom de domaine valide"),
        (("abcdefghij." * 25) + "fr", "au plus 253 caractères"),
        ("foyer.example.fr", "C'est le domaine de la plateforme"),
    ],
)
def test_bad_domains_are_refused_in_french_and_change_nothing(commune_a, settings, typed, message):
    # given JolieVille's primary domain
    settings.FOYER_BASE_DOMAIN = "foyer.example.fr"
    Domain.objects.create(domain="ancien.jolieville.fr", tenant=commune_a, is_primary=True)
    # when an operator types a bad one
    with pytest.raises(FoyerError) as refused:
        change_commune_domain(commune=commune_a, domain=typed)
    # then the message says why, and the domains are as they were
    assert refused.value.code == "invalid_domain"
    assert message in refused.value.field_errors["domain"][0]
    assert list(Domain.objects.values_list("domain", "tenant", "is_primary")) == [
        ("ancien.jolieville.fr", commune_a.pk, True)
    ]


def test_a_domain_of_another_commune_is_refused_and_nothing_changes(commune_a, commune_b):
    Domain.objects.create(domain="famille.demo.fr", tenant=commune_b, is_primary=True)
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    with pytest.raises(FoyerError) as refused:
        change_commune_domain(commune=commune_a, domain="FAMILLE.demo.fr.")
    assert refused.value.field_errors == {"domain": ["Ce domaine est déjà utilisé par une autre commune."]}
    assert sorted(Domain.objects.values_list("domain", "tenant", "is_primary")) == [
        ("famille.demo.fr", commune_b.pk, True),
        ("famille.jolieville.fr", commune_a.pk, True),
    ]


def test_the_current_primary_domain_again_is_refused(commune_a):
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    with pytest.raises(FoyerError) as refused:
        change_commune_domain(commune=commune_a, domain="famille.jolieville.fr")
    assert refused.value.field_errors == {
        "domain": ["famille.jolieville.fr est déjà le domaine principal de cette commune."]
    }


def test_accented_domains_are_kept_in_their_ascii_form():
    assert clean_hostname("  Mairie-Évian.FR. ") == "xn--mairie-vian-hbb.fr"
    assert clean_hostname("famille.jolieville.fr") == "famille.jolieville.fr"


def test_changing_the_domain_moves_the_redirect(client, commune_a, settings):
    settings.ALLOWED_HOSTS = ["*"]
    # given JolieVille reached at ancien.jolieville.fr
    Domain.objects.create(domain="ancien.jolieville.fr", tenant=commune_a, is_primary=True)
    assert client.get("/console/", HTTP_HOST="ancien.jolieville.fr")["Location"] == (
        "http://testserver/c/jolieville/console/"
    )
    # when its domain changes
    domain = change_commune_domain(commune=commune_a, domain="Famille.JolieVille.fr")
    # then the new one is its only domain, primary, and redirects; the old one no longer does
    assert (domain.domain, domain.is_primary) == ("famille.jolieville.fr", True)
    assert list(Domain.objects.values_list("domain", "is_primary")) == [("famille.jolieville.fr", True)]
    response = client.get("/reservations/?semaine=2027-01-11", HTTP_HOST="famille.jolieville.fr")
    assert response.status_code == 301
    assert response["Location"] == "http://testserver/c/jolieville/reservations/?semaine=2027-01-11"
    assert client.get("/console/", HTTP_HOST="ancien.jolieville.fr").status_code != 301


def test_the_previous_domain_can_stay_as_a_secondary_redirect(client, commune_a, settings):
    settings.ALLOWED_HOSTS = ["*"]
    Domain.objects.create(domain="ancien.jolieville.fr", tenant=commune_a, is_primary=True)
    change_commune_domain(commune=commune_a, domain="famille.jolieville.fr", keep_previous=True)
    assert sorted(Domain.objects.values_list("domain", "is_primary")) == [
        ("ancien.jolieville.fr", False),
        ("famille.jolieville.fr", True),
    ]
    for host in ("ancien.jolieville.fr", "famille.jolieville.fr"):
        assert client.get("/", HTTP_HOST=host)["Location"] == "http://testserver/c/jolieville/"
    # and a secondary domain can become primary again: still one primary
    change_commune_domain(commune=commune_a, domain="ancien.jolieville.fr", keep_previous=True)
    assert sorted(Domain.objects.values_list("domain", "is_primary")) == [
        ("ancien.jolieville.fr", True),
        ("famille.jolieville.fr", False),
    ]


def test_removing_the_primary_domain_promotes_the_next(commune_a, commune_b):
    first = Domain.objects.create(domain="un.jolieville.fr", tenant=commune_a, is_primary=True)
    Domain.objects.create(domain="deux.jolieville.fr", tenant=commune_a, is_primary=False)
    other = Domain.objects.create(domain="famille.demo.fr", tenant=commune_b, is_primary=True)
    remove_commune_domain(commune=commune_a, domain_id=first.pk)
    assert list(commune_a.domains.values_list("domain", "is_primary")) == [("deux.jolieville.fr", True)]
    # another commune's domain is not JolieVille's to remove
    with pytest.raises(FoyerError) as refused:
        remove_commune_domain(commune=commune_a, domain_id=other.pk)
    assert refused.value.status == 404
    assert Domain.objects.filter(pk=other.pk, is_primary=True).exists()


def test_domain_form_keeps_the_input_and_shows_the_error(ops_client, commune_a):
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    response = ops_client.post(
        f"/operateur/communes/{commune_a.pk}/domaine/", {"domain": "http://nouveau.jolieville.fr"}
    )
    page = _page(response)
    assert response.status_code == 200
    assert "Saisissez seulement le nom de domaine, sans « https:// », chemin ni port" in page
    assert 'value="http://nouveau.jolieville.fr"' in page
    assert list(Domain.objects.values_list("domain", flat=True)) == ["famille.jolieville.fr"]


def test_domain_form_changes_the_domain(ops_client, commune_a):
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    response = ops_client.post(
        f"/operateur/communes/{commune_a.pk}/domaine/",
        {"domain": "portail.jolieville.fr", "keep_previous": "on"},
    )
    assert response.status_code == 302
    page = _page(ops_client.get(response["Location"]))
    assert "portail.jolieville.fr est maintenant le domaine principal de « Commune de JolieVille »." in page
    assert sorted(Domain.objects.values_list("domain", "is_primary")) == [
        ("famille.jolieville.fr", False),
        ("portail.jolieville.fr", True),
    ]
    # the list shows the primary one
    assert _row(_page(ops_client.get("/operateur/")), "Commune de JolieVille").endswith(
        "portail.jolieville.fr"
    )


def test_commune_page_removes_a_domain(ops_client, commune_a, commune_b):
    domain = Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a, is_primary=True)
    other = Domain.objects.create(domain="famille.demo.fr", tenant=commune_b, is_primary=True)
    # another commune's domain through JolieVille's page: not found, kept
    assert (
        ops_client.post(f"/operateur/communes/{commune_a.pk}/domaines/{other.pk}/retirer/").status_code == 404
    )
    response = ops_client.post(f"/operateur/communes/{commune_a.pk}/domaines/{domain.pk}/retirer/")
    assert response.status_code == 302
    assert list(Domain.objects.values_list("domain", flat=True)) == ["famille.demo.fr"]


# --- Health ------------------------------------------------------------------------------------------


def _health_row(page: str, key: str) -> str:
    row = re.search(rf'<tr id="sante-{key}">(.*?)</tr>', page, flags=re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


def test_health_page_says_ok_for_each_line_when_all_is_well(ops_client, commune_a, commune_b):
    TaskFailure.objects.all().delete()  # a worker of another test may have recorded some
    cache.set(BEAT_HEARTBEAT_KEY, (timezone.now() - dt.timedelta(seconds=20)).isoformat(), timeout=None)
    page = _page(ops_client.get("/operateur/sante/"))
    assert _health_row(page, "database").startswith("Base de données OK Joignable (PostgreSQL")
    assert _health_row(page, "redis").startswith("Redis (broker Celery et cache) OK Broker joignable")
    assert _health_row(page, "redis").endswith("; cache joignable.")
    assert _health_row(page, "queue").startswith("File d'attente Celery OK ")
    assert re.fullmatch(
        r"Celery beat \(tâches périodiques\) OK Dernier passage le .+, il y a 2\d s\.",
        _health_row(page, "beat"),
    )
    assert _health_row(page, "migrations") == "Migrations des communes OK Les 2 communes sont à jour."
    assert _health_row(page, "template").startswith("Schéma modèle des nouvelles communes OK À jour")
    assert (
        _health_row(page, "failures") == "Tâches en échec OK Aucune tâche en échec ces dernières 24 heures."
    )
    assert "Aucune tâche en échec enregistrée." in page
    assert "Aucun échec ces dernières 24 heures — les 50 derniers sont listés." in page


def test_beat_is_late_after_three_minutes_and_down_without_a_heartbeat(db):
    now = timezone.now()
    cache.delete(BEAT_HEARTBEAT_KEY)
    beat = {line.key: line for line in get_platform_health(now=now).lines}["beat"]
    assert (beat.status, beat.summary) == (
        "panne",
        "Aucun passage enregistré : beat ne tourne pas, ou vient de démarrer.",
    )
    cache.set(BEAT_HEARTBEAT_KEY, (now - BEAT_LATE_AFTER).isoformat(), timeout=None)
    beat = {line.key: line for line in get_platform_health(now=now).lines}["beat"]
    assert beat.status == "ok"
    cache.set(BEAT_HEARTBEAT_KEY, (now - dt.timedelta(minutes=7, seconds=5)).isoformat(), timeout=None)
    beat = {line.key: line for line in get_platform_health(now=now).lines}["beat"]
    assert beat.status == "attention"
    assert beat.summary.startswith("En retard : dernier passage le ")
    assert beat.summary.endswith("il y a 7 min (attendu chaque minute).")
    cache.delete(BEAT_HEARTBEAT_KEY)


def test_a_failed_task_appears_on_the_health_page(ops_client, commune_a):
    TaskFailure.objects.all().delete()  # a worker of another test may have recorded some
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)
    # given an old failure (more than 24 hours ago)
    TaskFailure.objects.create(
        task_name="billing.tasks.ancienne",
        exception="ValueError: hier",
        failed_at=timezone.now() - dt.timedelta(hours=25),
    )
    # when a commune task fails (run here, without raising to the caller)
    result = explode.apply(
        kwargs={"reason": "le serveur SMTP refuse", "schema_name": commune_a.schema_name}, throw=False
    )
    assert result.failed()
    # then it is recorded with its name, schema and error
    failure = TaskFailure.objects.first()
    assert (failure.task_name, failure.task_id, failure.schema_name, failure.exception) == (
        "tests.operator_console.explode",
        result.id,
        "c_jolieville",
        "RuntimeError: le serveur SMTP refuse",
    )
    assert "raise RuntimeError(reason)" in failure.traceback
    # and the health page shows it first, counting only the last 24 hours
    page = _page(ops_client.get("/operateur/sante/"))
    assert (
        _health_row(page, "failures") == "Tâches en échec Attention 1 tâche a échoué ces dernières 24 heures."
    )
    assert "1 échec ces dernières 24 heures" in page
    listed = re.findall(r"<code>(tests\.operator_console\.explode|billing\.tasks\.ancienne)</code>", page)
    assert listed == ["tests.operator_console.explode", "billing.tasks.ancienne"]
    assert "<code>c_jolieville</code>" in page and "RuntimeError: le serveur SMTP refuse" in page
    assert re.search(r"<span class=\"op-level attention\">Attention</span>\s+Vérifiée le", page)


def test_old_failures_are_pruned_when_a_new_one_is_recorded(db):
    from operators.services import FAILURE_RETENTION_DAYS, record_task_failure

    now = timezone.now()
    TaskFailure.objects.create(
        task_name="old", exception="x", failed_at=now - dt.timedelta(days=FAILURE_RETENTION_DAYS, minutes=1)
    )
    TaskFailure.objects.create(task_name="recent", exception="x", failed_at=now - dt.timedelta(days=1))
    record_task_failure(task_name="new", exception="x", failed_at=now)
    assert sorted(TaskFailure.objects.values_list("task_name", flat=True)) == ["new", "recent"]


@pytest.fixture
def private_queue():
    """The app's default queue renamed to a fresh one on the real Redis broker, emptied afterwards."""
    queue = f"foyer-test-ops-{uuid.uuid4().hex[:8]}"
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    client = redis.Redis.from_url(broker_redis_url())
    try:
        yield queue, client
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        client.delete(queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9)))
        client.close()


def test_queue_length_is_read_from_the_real_redis(ops_client, private_queue):
    from operators.tasks import record_beat_heartbeat

    queue, client = private_queue
    page = _page(ops_client.get("/operateur/sante/"))
    assert (
        _health_row(page, "queue")
        == f"File d'attente Celery OK Aucune tâche en attente dans la file « {queue} »."
    )
    # given three tasks waiting on the broker (one with a priority: kombu keeps it in another list)
    record_beat_heartbeat.apply_async()
    record_beat_heartbeat.apply_async()
    record_beat_heartbeat.apply_async(priority=5)
    assert client.llen(queue) == 2 and client.llen(f"{queue}\x06\x163") == 1
    # then the health page counts them
    page = _page(ops_client.get("/operateur/sante/"))
    assert (
        _health_row(page, "queue")
        == f"File d'attente Celery OK 3 tâches en attente dans la file « {queue} »."
    )
    # when a hundred are waiting, the workers do not keep up
    client.rpush(queue, *(["{}"] * 97))
    page = _page(ops_client.get("/operateur/sante/"))
    assert _health_row(page, "queue") == (
        f"File d'attente Celery Attention 100 tâches en attente dans la file « {queue} ». "
        "Les workers ne suivent pas : vérifiez qu'ils tournent, ou ajoutez-en."
    )


def test_an_unreachable_broker_is_a_panne_and_the_page_still_answers(ops_client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = ops_client.get("/operateur/sante/")
    page = _page(response)
    assert response.status_code == 200
    assert _health_row(page, "redis").startswith("Redis (broker Celery et cache) Panne Broker injoignable")
    assert _health_row(page, "queue") == "File d'attente Celery Panne Illisible : le broker est injoignable."
    assert _health_row(page, "database").startswith("Base de données OK")
    assert re.search(r"<span class=\"op-level panne\">Panne</span>\s+Vérifiée le", page)


def test_health_shows_communes_behind_and_the_template_state(ops_client, commune_a, commune_b):
    _break_billing(commune_b.schema_name)
    page = _page(ops_client.get("/operateur/sante/"))
    assert _health_row(page, "migrations") == (
        "Migrations des communes Attention 1 commune sur 2 a des migrations en retard : "
        "lancez « manage.py migrate_communes »."
    )
    assert f'<a href="/operateur/communes/{commune_b.pk}/">Collectivité Démo</a> <code>c_demo</code>' in page
    # the template schema behind
    _break_billing(settings.TENANT_BASE_SCHEMA)
    page = _page(ops_client.get("/operateur/sante/"))
    assert _health_row(page, "template").startswith(
        "Schéma modèle des nouvelles communes Attention Migrations en retard"
    )


def test_health_page_query_count_is_pinned_and_does_not_grow(ops_client, commune_a):
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)
    with CaptureQueriesContext(connection) as two:
        ops_client.get("/operateur/sante/")
    for index in range(2):
        provision_commune(name=f"Ajout {index}", slug=f"ajout-{index}", admin_email="a@b.fr")
    with CaptureQueriesContext(connection) as four:
        ops_client.get("/operateur/sante/")
    # session, account, two-factor device, SELECT 1, schema names, migration state (2), template
    # exists, outbox backlog, failures (2)
    for captured in (two, four):
        queries = _without_set_search_path(captured)
        assert len(queries) == 11, "\n".join(queries)
    cache.delete(BEAT_HEARTBEAT_KEY)


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_task_failing_in_a_real_worker_is_recorded(committed_db, private_queue):
    from celery.contrib.testing.worker import start_worker

    queue, _client = private_queue
    result = None
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10
        ):
            result = explode.apply_async(kwargs={"reason": "en vrai", "schema_name": "c_demo"})
            assert _wait_for(lambda: TaskFailure.objects.filter(task_id=result.id).exists())
        failure = TaskFailure.objects.get(task_id=result.id)
        assert (failure.task_name, failure.schema_name, failure.exception) == (
            "tests.operator_console.explode",
            "c_demo",
            "RuntimeError: en vrai",
        )
    finally:
        if result is not None:
            TaskFailure.objects.filter(task_id=result.id).delete()


def test_a_membership_count_ignores_suspended_dossiers(ops_client, commune_a):
    membership = make_family(commune_a, email="p@example.fr")
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.SUSPENDED)
    assert " Active Ouverte 0 " in _row(_page(ops_client.get("/operateur/")), "Commune de JolieVille")
