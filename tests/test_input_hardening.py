"""Numbers typed in other scripts ("²", "٣") in query strings and forms: a page, never a 500."""

from __future__ import annotations

from family.router import get_family_scope
from shared_identity.models import Guardian, Membership
from tests.conftest import commune_path, make_family, make_staff


def test_superscript_digits_in_query_strings_are_ignored(client, commune_a):
    # given a parent and an agent
    parent = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    agent = make_staff(commune_a, "agent@jolieville.test")
    # then the news feed, the week and the requests queue answer
    client.force_login(parent)
    assert client.get("/actualites/?page=²").status_code == 200
    assert client.get("/reservations/?enfant=²").status_code == 200
    client.force_login(agent)
    assert client.get(commune_path(commune_a, "console/demandes/?q=n°²")).status_code == 200
    assert client.get(commune_path(commune_a, "console/demandes/?attribuee=²")).status_code == 200


def test_a_commune_appears_once_for_a_parent_of_two_of_its_families(commune_a):
    # given one account guardian of two families, both members of the same commune
    first = make_family(commune_a, email="parent@example.fr", dossier="F00001")
    second = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    account = first.family.guardians.get().account
    Guardian.objects.create(
        family=second.family, account=account, first_name="Camille", last_name="Martin", email=account.email
    )
    # then the family scope (which every family router reads) holds the commune once
    scope = get_family_scope(account)
    assert [c.slug for c in scope.communes] == ["jolieville"]
    assert sorted(scope.family_ids) == sorted([first.family_id, second.family_id])
    assert Membership.objects.filter(commune=commune_a).count() == 2
