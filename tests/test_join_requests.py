"""A family joins another commune on its own initiative: it asks, the commune's agent accepts
(linking the dossier the commune already had, whose reservations follow) or refuses with a
reason, and the family is told by e-mail. An expired activation link asks for a new one."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

from django.core import mail

from reservations.models import Booking
from shared_identity.models import Invitation, JoinRequest, Membership
from shared_identity.services import send_family_invitation
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import commune_path, make_family
from tests.reservations.conftest import make_catalogue


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _ask(client, commune, membership, **data):
    child = membership.family.children.get()
    return client.post(
        "/compte/communes/adherer/", {"commune": commune.pk, "children": [child.pk], **data}, follow=True
    )


def test_a_family_asks_and_the_agent_links_the_dossier_the_commune_had(
    client, commune_a, commune_b, agent_b, django_capture_on_commit_callbacks
):
    # given a family of A, and in B a dossier B opened for it (not activated) with a booking
    membership = make_family(commune_a, email="parent@example.fr")
    dossier_b = make_family(commune_b, email="parent-b@example.fr", active=False, dossier="B-042")
    canteen = make_catalogue(commune_b)
    with commune_context(commune_b):
        Booking.objects.create(
            child=dossier_b.family.children.get(),
            family=dossier_b.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 11),
            status="confirmed",
            price=Decimal("4.05"),
        )
    client.force_login(membership.family.guardians.get().account)
    # when the family asks B, giving the dossier number B gave it
    page = page_text(_ask(client, commune_b, membership, dossier_number="B-042", message="Nous arrivons."))
    assert f"Votre demande est envoyée à {commune_b.name}" in page
    request = JoinRequest.objects.get()
    # and B's agent accepts, linking that dossier
    client.force_login(agent_b)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_b, f"console/adhesions/{request.pk}/"),
            {"decision": "accept", "dossier_number": "B-042"},
        )
    assert response.status_code == 302
    # then the family is active in B with that dossier, the booking follows it, it is told
    linked = Membership.objects.get(commune=commune_b)
    assert (linked.family_id, linked.dossier_number, linked.status) == (
        membership.family_id,
        "B-042",
        "active",
    )
    with commune_context(commune_b):
        assert Booking.objects.get().family_id == membership.family_id
    request.refresh_from_db()
    assert (request.status, request.membership_id) == ("accepted", linked.pk)
    assert mail.outbox[-1].to == ["parent@example.fr"]
    assert "votre famille y a le dossier n° B-042" in mail.outbox[-1].body


def test_a_refusal_says_why_and_tells_the_family(
    client, commune_a, commune_b, agent_b, django_capture_on_commit_callbacks
):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    _ask(client, commune_b, membership)
    request = JoinRequest.objects.get()
    client.force_login(agent_b)
    url = commune_path(commune_b, f"console/adhesions/{request.pk}/")
    # a refusal without a reason changes nothing
    assert client.post(url, {"decision": "refuse", "reason": ""}).status_code == 200
    assert JoinRequest.objects.get().status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"decision": "refuse", "reason": "Vous n'habitez pas la commune."})
    assert JoinRequest.objects.get().status == "refused"
    assert not Membership.objects.filter(commune=commune_b).exists()
    assert "Motif : Vous n'habitez pas la commune." in mail.outbox[-1].body


def test_one_pending_request_a_commune_and_only_open_communes(client, commune_a, commune_b):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    _ask(client, commune_b, membership)
    page = page_text(_ask(client, commune_b, membership))
    assert "Une demande est déjà en cours" in page
    assert JoinRequest.objects.count() == 1
    # its own commune, or a suspended one, cannot be chosen
    Commune.objects.filter(pk=commune_b.pk).update(status=Commune.Status.SUSPENDED)
    for commune in (commune_a, commune_b):
        assert "Choisissez une commune de la liste" in page_text(_ask(client, commune, membership)) or (
            "Aucune autre commune" in page_text(client.get("/compte/communes/adherer/"))
        )
    assert JoinRequest.objects.count() == 1


def test_another_commune_or_family_cannot_see_or_decide_or_cancel(client, commune_a, commune_b, agent_a):
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    _ask(client, commune_b, membership)
    request = JoinRequest.objects.get()
    # commune A's agent: the request is B's
    client.force_login(agent_a)
    assert client.get(commune_path(commune_a, f"console/adhesions/{request.pk}/")).status_code == 404
    # another family cannot withdraw it
    other = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(other.family.guardians.get().account)
    assert client.post(f"/compte/communes/adherer/{request.pk}/retirer/").status_code == 404
    # the family itself can
    client.force_login(membership.family.guardians.get().account)
    client.post(f"/compte/communes/adherer/{request.pk}/retirer/")
    assert JoinRequest.objects.get().status == "cancelled"


def test_an_expired_link_asks_the_commune_for_a_new_one(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given a link sent, then expired
    membership = make_family(commune_a, email="parent@example.fr", active=False)
    with django_capture_on_commit_callbacks(execute=True):
        send_family_invitation(membership=membership, actor=agent_a)
    token = mail.outbox[-1].body.split("/activation/")[1].split("/")[0]
    Invitation.objects.update(expires_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    # when the family opens it and asks for a new one
    page = page_text(client.get(commune_path(commune_a, f"activation/{token}/")))
    assert "Demander un nouveau lien à la commune" in page
    asked = client.post(commune_path(commune_a, f"activation/{token}/nouveau-lien/"))
    # then the commune is told, and its agent sees it on the dossier
    assert asked.status_code == 200 and "elle vous enverra un nouveau lien" in page_text(asked)
    assert Invitation.objects.get().renewal_requested_at is not None
    client.force_login(agent_a)
    dossier = page_text(client.get(commune_path(commune_a, f"console/familles/{membership.pk}/")))
    assert "La famille a demandé un nouveau lien le" in dossier
    # a made-up token asks nothing
    assert client.post(commune_path(commune_a, "activation/inconnu/nouveau-lien/")).status_code == 404
