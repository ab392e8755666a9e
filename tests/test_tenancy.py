import html

import pytest
from django.db import connection

from operators.services import suspend_commune
from reservations.models import Service
from shared_identity.models import StaffRole
from tenants.context import TenantContextMissing, commune_context
from tenants.models import Domain
from tests.conftest import commune_path, make_account, make_family, make_staff


def test_unknown_commune_is_a_french_404(client, db):
    response = client.get("/c/nulle-part/")
    assert response.status_code == 404
    assert "Commune introuvable" in response.content.decode()
    assert "nulle-part" in response.content.decode()


def test_unknown_page_is_a_french_404(client, db):
    response = client.get("/nexiste-pas/")
    assert response.status_code == 404
    assert "Page introuvable" in response.content.decode()


def test_commune_page_runs_in_the_commune_schema(client, commune_a):
    response = client.get(commune_path(commune_a))
    assert response.status_code == 200
    assert response.wsgi_request.commune == commune_a
    assert "Commune de JolieVille" in response.content.decode()
    # the connection is back on public after the request
    assert connection.schema_name == "public"


def test_one_login_reaches_every_commune(client, commune_a, commune_b):
    # given a family member of both communes, signed in once
    membership = make_family(commune_a, email="parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-7", status="active")
    response = client.post(
        "/connexion/", {"username": "parent@example.fr", "password": "Une-phrase-de-passe-solide"}
    )
    assert response.status_code == 302
    # then both communes know them without signing in again
    for commune, number in ((commune_a, "F00001"), (commune_b, "B-7")):
        page = client.get(commune_path(commune)).content.decode()
        assert f"dossier n° {number}" in page


def test_dashboard_lists_only_the_familys_own_communes(client, commune_a, commune_b):
    mine = make_family(commune_a, email="moi@example.fr")
    make_family(commune_b, email="autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(mine.family.guardians.get().account)
    page = client.get("/").content.decode()
    assert "Commune de JolieVille" in page
    assert "Collectivité Démo" not in page
    assert "Durand" not in page


def test_non_member_sees_no_dossier_in_another_commune(client, commune_a, commune_b):
    mine = make_family(commune_a, email="moi@example.fr")
    client.force_login(mine.family.guardians.get().account)
    page = client.get(commune_path(commune_b)).content.decode()
    assert "pas encore rattachée" in page


def test_suspended_commune_shows_families_the_reason(client, commune_a):
    mine = make_family(commune_a, email="moi@example.fr")
    suspend_commune(commune=commune_a, reason="Migration du logiciel jusqu'au 3 décembre.")
    client.force_login(mine.family.guardians.get().account)
    response = client.get(commune_path(commune_a))
    assert response.status_code == 503
    assert "Migration du logiciel jusqu'au 3 décembre." in html.unescape(response.content.decode())
    # the commune's staff still reach their console
    staff = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(staff)
    assert client.get(commune_path(commune_a, "console/")).status_code == 200


def test_suspension_requires_a_reason(db, commune_a):
    from foyer.errors import FoyerError

    with pytest.raises(FoyerError):
        suspend_commune(commune=commune_a, reason="  ")
    commune_a.refresh_from_db()
    assert commune_a.is_active


def test_custom_domain_redirects_to_the_platform_address(client, commune_a, settings):
    settings.ALLOWED_HOSTS = ["*"]
    Domain.objects.create(domain="famille.jolieville.fr", tenant=commune_a)
    response = client.get("/console/", HTTP_HOST="famille.jolieville.fr")
    assert response.status_code == 301
    assert response["Location"] == "http://testserver/c/jolieville/console/"


def test_commune_data_without_a_commune_fails_loudly(db, commune_a):
    with pytest.raises(TenantContextMissing):
        list(Service.objects.all())
    with commune_context(commune_a):
        Service.objects.create(name="Restauration scolaire")
        assert Service.objects.count() == 1
    assert connection.schema_name == "public"


def test_commune_data_stays_in_its_schema(db, commune_a, commune_b):
    with commune_context(commune_a):
        Service.objects.create(name="Périscolaire")
    with commune_context(commune_b):
        assert Service.objects.count() == 0


def test_staff_role_is_per_commune(db, commune_a, commune_b):
    agent = make_staff(commune_a, "agent@jolieville.test")
    assert StaffRole.objects.filter(account=agent, commune=commune_b).count() == 0
    assert make_account("x@example.fr").staff_roles.count() == 0
