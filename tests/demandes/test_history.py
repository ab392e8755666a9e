"""'Historique des demandes': every request of the family in every commune, read by the
family router in one SQL round trip, whatever the number of communes."""

import html

from django.db import connection
from django.test.utils import CaptureQueriesContext

from demandes import services
from family.router import list_family_requests
from operators.services import provision_commune
from tenants.context import commune_context
from tests.conftest import make_family, open_to_families
from tests.demandes.conftest import category, file_pickup, guardian_of, install_default_categories


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _queries(context) -> list[str]:
    return [q["sql"] for q in context.captured_queries if not q["sql"].startswith("SET search_path")]


def _ask(commune, membership, text: str):
    with commune_context(commune):
        return services.submit_request(
            family=membership.family,
            actor=guardian_of(membership),
            category=category(commune, "autre-demande"),
            answers={"objet": text, "message": "Bonjour"},
            attachments=[],
        )


def test_the_history_lists_every_commune_with_statuses_and_the_communes_messages(
    client, commune_a, commune_b, family_a, defaults_b, agent_a
):
    # given a request in each commune; commune A answered and refused
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    first = file_pickup(commune_a, family_a)
    second = _ask(commune_b, family_a, "Horaires")
    with commune_context(commune_a):
        services.change_request_status(
            request_id=first.pk, actor=agent_a, status="rejected", message="Pièce d'identité illisible."
        )
    # when
    client.force_login(guardian_of(family_a))
    page = page_text(client.get("/demandes/"))
    # then
    assert "Historique des demandes" in page and "Faire une demande" in page
    assert "1 demande en cours." in page
    assert "Autorisation de récupération d'un enfant" in page and "Refusée" in page
    assert "Autre demande" in page and "Déposée" in page
    assert "Commune de JolieVille" in page and "Collectivité Démo" in page
    assert "Pièce d'identité illisible." in page
    assert "Message de la commune (1)" in page
    assert f"/c/jolieville/demandes/{first.pk}/" in page and f"/c/demo/demandes/{second.pk}/" in page


def test_the_router_reads_all_communes_in_one_query(commune_a, commune_b, family_a, defaults_b):
    # given
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    first = file_pickup(commune_a, family_a)
    second = _ask(commune_b, family_a, "Horaires")
    # when
    with CaptureQueriesContext(connection) as context:
        rows = list_family_requests(family_ids=[family_a.family.pk], communes=[commune_a, commune_b])
    # then
    assert len(_queries(context)) == 1
    assert "UNION ALL" in _queries(context)[0]
    assert [(r.commune.slug, r.id, r.status, r.attachment_count) for r in rows] == [
        ("demo", second.pk, "submitted", 0),
        ("jolieville", first.pk, "submitted", 1),
    ]


def test_the_history_page_costs_the_same_queries_for_one_two_or_three_communes(
    client, commune_a, commune_b, defaults_a, defaults_b
):
    # given a family in one commune, then in two, then in three (a new commune, provisioned
    # from the template: it comes with the default categories)
    membership = make_family(commune_a, email="parent@example.fr")
    _ask(commune_a, membership, "A")
    client.force_login(guardian_of(membership))
    counts = []
    with CaptureQueriesContext(connection) as one:
        assert client.get("/demandes/").status_code == 200
    counts.append(len(_queries(one)))
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    _ask(commune_b, membership, "B")
    with CaptureQueriesContext(connection) as two:
        assert client.get("/demandes/").status_code == 200
    counts.append(len(_queries(two)))
    third = open_to_families(
        provision_commune(name="Ville-Neuve", slug="ville-neuve", admin_email="maire@ville-neuve.fr")
    )
    membership.family.memberships.create(commune=third, dossier_number="C-1", status="active")
    _ask(third, membership, "C")
    with CaptureQueriesContext(connection) as three:
        page = page_text(client.get("/demandes/"))
    counts.append(len(_queries(three)))
    # then: session, account, memberships, children, and the router's one query for the
    # requests and one for the cancellation requests
    assert counts == [6, 6, 6]
    unions = [sql for sql in _queries(three) if "UNION ALL" in sql]
    assert [("demandes_request" in sql, "reservations_cancellationrequest" in sql) for sql in unions] == [
        (True, False),
        (False, True),
    ]
    for sql in unions:
        assert all(f'"{schema}"' in sql for schema in ("c_jolieville", "c_demo", "c_ville_neuve"))
    assert page.count("Autre demande") == 3


def test_a_family_sees_only_its_own_requests(client, commune_a, family_a, other_family_a):
    # given
    mine = file_pickup(commune_a, family_a)
    theirs = file_pickup(commune_a, other_family_a)
    # when
    client.force_login(guardian_of(family_a))
    page = page_text(client.get("/demandes/"))
    # then
    assert f"/c/jolieville/demandes/{mine.pk}/" in page
    assert f"/c/jolieville/demandes/{theirs.pk}/" not in page
    assert client.get(f"/c/jolieville/demandes/{theirs.pk}/").status_code == 404


def test_a_new_commune_starts_with_the_default_categories(db):
    # when
    commune = provision_commune(name="Ville-Neuve", slug="ville-neuve", admin_email="maire@ville-neuve.fr")
    # then (cloned from the template schema, where the data migration ran)
    from demandes.models import RequestCategory

    with commune_context(commune):
        categories = {c.code: c for c in RequestCategory.objects.all()}
    assert sorted(categories) == [
        "allergie-pai",
        "attestation",
        "autorisation-recuperation",
        "autre-demande",
        "changement-adresse",
    ]
    address = categories["changement-adresse"]
    assert (address.is_system, address.title, address.attachment_types) == (
        True,
        "Changement d'adresse",
        ["justificatif_domicile"],
    )
    assert [c.code for c in categories.values() if c.is_system] == ["changement-adresse"]
    pickup = categories["autorisation-recuperation"]
    assert pickup.attachment_types == ["piece_identite"]
    assert [f["kind"] for f in pickup.fields] == ["child", "text", "text", "text", "date", "date"]


def test_the_default_categories_are_not_installed_twice(commune_a, defaults_a):
    from demandes.models import RequestCategory

    install_default_categories(commune_a)
    with commune_context(commune_a):
        assert RequestCategory.objects.count() == 5
