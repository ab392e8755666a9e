"""Agents keep the family's file up to date from the console dossier: the family (address,
phones), its guardians and its children, audited; another commune's agent gets a 404."""

from __future__ import annotations

import datetime as dt
import html

from audit.models import AuditEntry
from shared_identity.models import Child, Family, Guardian
from tenants.context import commune_context
from tests.conftest import commune_path, make_family


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_an_agent_corrects_the_familys_address_and_phone_and_it_is_audited(client, commune_a, agent_a):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    url = commune_path(commune_a, f"console/familles/{membership.pk}/famille/")
    response = client.post(
        url,
        {
            "name": "Martin",
            "address_line": "3 rue des Lilas",
            "postcode": "38000",
            "city": "Grenoble",
            "home_phone": "0476123456",
        },
    )
    assert response.status_code == 302
    family = Family.objects.get(pk=membership.family_id)
    assert (family.address_line, family.postcode, family.city, family.home_phone) == (
        "3 rue des Lilas",
        "38000",
        "Grenoble",
        "04 76 12 34 56",
    )
    with commune_context(commune_a):
        entry = AuditEntry.objects.get(object_type="family")
    assert entry.actor_id == agent_a.pk and "city" in entry.changes


def test_a_bad_address_changes_nothing_and_says_why(client, commune_a, agent_a):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/famille/"),
        {
            "name": "Martin",
            "address_line": "3 rue des Lilas",
            "postcode": "380",
            "city": "",
            "home_phone": "12",
        },
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "Le code postal comporte 5 chiffres" in page and "numéro de téléphone valide" in page
    assert Family.objects.get(pk=membership.family_id).postcode == ""


def test_guardians_two_at_most_and_an_account_keeps_its_email(client, commune_a, agent_a):
    membership = make_family(commune_a, email="parent@example.fr")
    first = membership.family.guardians.get()
    client.force_login(agent_a)
    add = commune_path(commune_a, f"console/familles/{membership.pk}/responsables/ajouter/")
    # a second guardian is added
    response = client.post(
        add, {"first_name": "Sam", "last_name": "Martin", "email": "Sam@Example.fr", "phone": ""}
    )
    assert response.status_code == 302
    assert sorted(membership.family.guardians.values_list("email", flat=True)) == [
        "parent@example.fr",
        "sam@example.fr",
    ]
    # a third is refused
    response = client.post(add, {"first_name": "Alex", "last_name": "Martin", "email": "alex@example.fr"})
    assert "au plus 2 responsables légaux" in page_text(response)
    assert membership.family.guardians.count() == 2
    # the first one has an account: the agent corrects the name, not the login e-mail
    edit = commune_path(commune_a, f"console/familles/{membership.pk}/responsables/{first.pk}/")
    response = client.post(
        edit, {"first_name": "Camille", "last_name": "Martin-Roy", "email": "autre@example.fr"}
    )
    assert "elle change son adresse depuis « Mon compte »" in page_text(response)
    assert Guardian.objects.get(pk=first.pk).email == "parent@example.fr"
    response = client.post(
        edit, {"first_name": "Camille", "last_name": "Martin-Roy", "email": "parent@example.fr"}
    )
    assert response.status_code == 302
    assert Guardian.objects.get(pk=first.pk).last_name == "Martin-Roy"


def test_children_added_and_corrected_with_a_real_birth_date(client, commune_a, agent_a):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    add = commune_path(commune_a, f"console/familles/{membership.pk}/enfants/ajouter/")
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = client.post(add, {"first_name": "Hugo", "last_name": "Martin", "birth_date": future})
    assert response.status_code == 200
    assert membership.family.children.count() == 1
    response = client.post(add, {"first_name": "Hugo", "last_name": "Martin", "birth_date": "2019-03-02"})
    assert response.status_code == 302
    hugo = Child.objects.get(first_name="Hugo")
    assert (hugo.family_id, hugo.birth_date) == (membership.family_id, dt.date(2019, 3, 2))


def test_another_communes_agent_cannot_see_or_change_the_dossier(client, commune_a, agent_b):
    membership = make_family(commune_a, email="parent@example.fr")
    guardian = membership.family.guardians.get()
    client.force_login(agent_b)
    for rest in ("famille/", f"responsables/{guardian.pk}/", "enfants/ajouter/"):
        assert (
            client.get(commune_path(commune_a, f"console/familles/{membership.pk}/{rest}")).status_code == 404
        )
        # through its own console address too: the dossier is not its commune's
    from tenants.models import Commune

    commune_b = Commune.objects.get(slug="demo")
    response = client.post(
        commune_path(commune_b, f"console/familles/{membership.pk}/famille/"), {"name": "Pirate"}
    )
    assert response.status_code == 404
    assert Family.objects.get(pk=membership.family_id).name == "Martin"


def test_a_new_family_reads_never_invited_until_a_link_is_sent(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given a dossier opened from the console, no link sent yet
    membership = make_family(commune_a, email="parent@example.fr", active=False)
    client.force_login(agent_a)
    detail = commune_path(commune_a, f"console/familles/{membership.pk}/")
    # then the dossier and the list say "Jamais invitée"
    assert "Statut : Jamais invitée" in " ".join(page_text(client.get(detail)).split()).replace(
        "<strong>", ""
    ).replace("</strong>", "")
    assert "Jamais invitée" in page_text(client.get(commune_path(commune_a, "console/familles/")))
    # when a link is sent, it reads "Invitée"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, f"console/familles/{membership.pk}/activation/"))
    assert "Statut : Invitée" in " ".join(page_text(client.get(detail)).split()).replace(
        "<strong>", ""
    ).replace("</strong>", "")
