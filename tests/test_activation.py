"""Family activation: an agent opens a dossier, sends a one-time link, the guardian signs up
(or signs in) and lands on the dashboard."""

import datetime as dt
import html
import re

import pytest
from django.core import mail
from django.utils import timezone

from shared_identity.models import Account, Child, Family, Invitation, Membership
from tests.conftest import PASSWORD, commune_path, make_family

NEW_PASSWORD = "Cantine-du-jeudi-2026"


def _create_dossier(client, commune, email="parent@example.fr", children=(("Léa", "2017-05-14"),)):
    data = {
        "family_name": "Martin",
        "guardian_first_name": "Camille",
        "guardian_last_name": "Martin",
        "guardian_email": email,
        "children-TOTAL_FORMS": "3",
        "children-INITIAL_FORMS": "0",
        "children-MIN_NUM_FORMS": "0",
        "children-MAX_NUM_FORMS": "10",
    }
    for index, (first_name, birth) in enumerate(children):
        data |= {
            f"children-{index}-first_name": first_name,
            f"children-{index}-last_name": "Martin",
            f"children-{index}-birth_date": birth,
        }
    response = client.post(commune_path(commune, "console/familles/nouvelle/"), data)
    assert response.status_code == 302, response.content.decode()
    return Membership.objects.get(commune=commune, family__guardians__email=email)


def _activate(client, commune, membership, capture):
    with capture(execute=True):
        response = client.post(commune_path(commune, f"console/familles/{membership.pk}/activation/"))
    assert response.status_code == 302
    body = mail.outbox[-1].body
    return re.search(r"http://testserver(/c/[^\s]+/activation/[^\s/]+/)", body).group(1)


@pytest.fixture
def dossier_link(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    client.force_login(agent_a)
    membership = _create_dossier(client, commune_a)
    link = _activate(client, commune_a, membership, django_capture_on_commit_callbacks)
    client.logout()
    return membership, link


def test_happy_path_creates_one_account_and_lands_on_the_dashboard(client, commune_a, dossier_link):
    membership, link = dossier_link
    # the agent sees the link as sent
    invitation = membership.invitations.get()
    assert invitation.delivery == Invitation.Delivery.SENT and invitation.send_count == 1
    assert invitation.expires_at - invitation.sent_at <= dt.timedelta(hours=72)
    assert mail.outbox[-1].to == ["parent@example.fr"]
    assert "Commune de JolieVille" in mail.outbox[-1].subject
    # when the guardian completes the profile
    page = client.get(link)
    assert page.status_code == 200 and "Enregistrer" in page.content.decode()
    response = client.post(
        link,
        {
            "first_name": "Camille",
            "last_name": "Martin",
            "phone": "0601020304",
            "address_line": "3 rue des Écoles",
            "postcode": "38000",
            "city": "JolieVille",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    # then
    assert response.status_code == 302 and response["Location"] == "/"
    account = Account.objects.get(email="parent@example.fr")
    assert account.password.startswith("argon2")
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE and membership.activated_at is not None
    assert membership.family.guardians.get().account == account
    assert membership.family.city == "JolieVille"
    dashboard = client.get("/").content.decode()
    assert "Commune de JolieVille" in dashboard and "Léa" in dashboard


def test_reused_link_is_refused(client, commune_a, dossier_link):
    membership, link = dossier_link
    client.post(
        link,
        {
            "first_name": "Camille",
            "last_name": "Martin",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    client.logout()
    response = client.get(link)
    assert response.status_code == 410
    assert "déjà été utilisé" in html.unescape(response.content.decode())
    assert Account.objects.filter(email="parent@example.fr").count() == 1


def test_expired_link_is_refused_and_changes_nothing(client, commune_a, agent_a, dossier_link):
    membership, link = dossier_link
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    # the agent sees it expired, and can send a new one
    client.force_login(agent_a)
    detail = client.get(commune_path(commune_a, f"console/familles/{membership.pk}/")).content.decode()
    assert "<strong>Expiré</strong>" in detail and "Renvoyer le lien" in detail
    client.logout()
    response = client.post(
        link,
        {
            "first_name": "Camille",
            "last_name": "Martin",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    assert response.status_code == 410
    assert "expiré" in html.unescape(response.content.decode())
    assert not Account.objects.filter(email="parent@example.fr").exists()
    membership.refresh_from_db()
    assert membership.status == Membership.Status.INVITED


def test_resend_replaces_the_link(
    client, commune_a, agent_a, dossier_link, django_capture_on_commit_callbacks
):
    membership, old_link = dossier_link
    client.force_login(agent_a)
    new_link = _activate(client, commune_a, membership, django_capture_on_commit_callbacks)
    client.logout()
    assert new_link != old_link
    assert client.get(old_link).status_code == 404
    assert client.get(new_link).status_code == 200
    assert membership.invitations.get().send_count == 2


def test_weak_password_is_refused_with_a_clear_message(client, commune_a, dossier_link):
    membership, link = dossier_link
    response = client.post(
        link,
        {
            "first_name": "Camille",
            "last_name": "Martin",
            "password": "12345678",
            "password_confirmation": "12345678",
        },
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "trop court" in page or "trop courant" in page
    assert not Account.objects.filter(email="parent@example.fr").exists()


def test_mismatched_passwords_keep_what_was_typed(client, commune_a, dossier_link):
    membership, link = dossier_link
    response = client.post(
        link,
        {
            "first_name": "Camille",
            "last_name": "Martin",
            "city": "JolieVille",
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD + "x",
        },
    )
    page = html.unescape(response.content.decode())
    assert "ne sont pas identiques" in page
    assert 'value="JolieVille"' in page
    assert not Account.objects.filter(email="parent@example.fr").exists()


def test_link_for_another_email_is_refused(client, commune_a, dossier_link):
    membership, link = dossier_link
    other = make_family(commune_a, email="quelquun@example.fr", name="Durand", dossier="F00099")
    client.force_login(other.family.guardians.get().account)
    response = client.post(link)
    assert response.status_code == 403
    assert "autre adresse e-mail" in html.unescape(response.content.decode())
    membership.refresh_from_db()
    assert membership.status == Membership.Status.INVITED


def test_existing_account_adds_the_commune_without_a_second_account(
    client, commune_a, commune_b, agent_b, django_capture_on_commit_callbacks
):
    # given a parent already active in commune A, with Léa
    existing = make_family(commune_a, email="parent@example.fr")
    account = existing.family.guardians.get().account
    # and commune B opens a dossier for the same e-mail, with Léa and her brother
    client.force_login(agent_b)
    dossier = _create_dossier(client, commune_b, children=(("Léa", "2017-05-14"), ("Hugo", "2019-09-02")))
    link = _activate(client, commune_b, dossier, django_capture_on_commit_callbacks)
    client.logout()
    # when the parent opens the link: they are asked to sign in, not to create an account
    page = html.unescape(client.get(link).content.decode())
    assert "Vous avez déjà un compte Foyer" in page
    client.post("/connexion/", {"username": "parent@example.fr", "password": PASSWORD})
    response = client.post(link)
    # then commune B joins the same family, Léa is not duplicated, Hugo is added
    assert response.status_code == 302
    assert Account.objects.filter(email="parent@example.fr").count() == 1
    family = existing.family
    assert set(family.memberships.values_list("commune__slug", flat=True)) == {"jolieville", "demo"}
    assert sorted(family.children.values_list("first_name", flat=True)) == ["Hugo", "Léa"]
    assert Family.objects.count() == 1
    assert Child.objects.count() == 2
    assert family.guardians.get().account == account
    dashboard = client.get("/").content.decode()
    assert "Commune de JolieVille" in dashboard and "Collectivité Démo" in dashboard


def test_already_a_member_is_refused(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    # given a parent already active in commune A
    existing = make_family(commune_a, email="parent@example.fr")
    # and a second dossier in the same commune for another e-mail of theirs... sent to their login
    client.force_login(agent_a)
    dossier = _create_dossier(client, commune_a, email="parent.bis@example.fr")
    link = _activate(client, commune_a, dossier, django_capture_on_commit_callbacks)
    Invitation.objects.filter(membership=dossier).update(email="parent@example.fr")
    client.force_login(existing.family.guardians.get().account)
    response = client.post(link)
    assert response.status_code == 409
    assert "déjà rattachée" in html.unescape(response.content.decode())
    dossier.refresh_from_db()
    assert dossier.status == Membership.Status.INVITED


def test_unknown_link_is_a_clear_404(client, commune_a):
    response = client.get(commune_path(commune_a, "activation/pas-un-jeton/"))
    assert response.status_code == 404
    assert "n'est pas valide" in html.unescape(response.content.decode())


def test_link_of_commune_a_does_not_work_in_commune_b(client, commune_b, dossier_link):
    membership, link = dossier_link
    response = client.get(link.replace("/c/jolieville/", "/c/demo/"))
    assert response.status_code == 404


def test_merging_a_dossier_moves_its_enrolments_to_the_known_children(
    client, commune_a, commune_b, agent_b, django_capture_on_commit_callbacks
):
    from reservations.models import Enrolment
    from tenants.context import commune_context
    from tests.reservations.conftest import enrol, make_catalogue

    # given a parent active in A, and commune B enrolling the dossier's Léa and Hugo before activation
    existing = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_b)
    dossier = _create_dossier(client, commune_b, children=(("Léa", "2017-05-14"), ("Hugo", "2019-09-02")))
    canteen = make_catalogue(commune_b)
    for child in dossier.family.children.all():
        enrol(canteen, child)
    link = _activate(client, commune_b, dossier, django_capture_on_commit_callbacks)
    # when the parent adds commune B to their account
    client.logout()
    client.post("/connexion/", {"username": "parent@example.fr", "password": PASSWORD})
    assert client.post(link).status_code == 302
    # then B's enrolments belong to the family, Léa's to the Léa it already had
    family = existing.family
    lea = family.children.get(first_name="Léa")
    with commune_context(commune_b):
        assert set(Enrolment.objects.values_list("family_id", flat=True)) == {family.pk}
        assert sorted(Enrolment.objects.values_list("child__first_name", flat=True)) == ["Hugo", "Léa"]
        assert Enrolment.objects.get(child__first_name="Léa").child_id == lea.pk
