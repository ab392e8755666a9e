"""The family profile ("Informations profil"), shared by all communes: family name, phones,
the guardian's own details, the address (with a proof of address, one request per commune),
the login e-mail (confirmed by a link), the password, the second guardian, and the REST API."""

from __future__ import annotations

import datetime as dt
import html
import importlib
import os
import re

import pytest
from django.core import mail
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.utils import timezone

from demandes.models import Request, RequestAttachment, RequestCategory
from reservations.models import CancellationRequest
from shared_identity.models import Account, EmailChange, Guardian, Invitation, Membership
from tenants.context import commune_context
from tests.conftest import PASSWORD, make_account, make_family

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# --- Helpers shared with the other account test files ------------------------------------------


@pytest.fixture
def private_files(tmp_path, monkeypatch):
    """The private storage (storages["attachments"] and the file fields that use it) in a
    folder of this test's own, so that "no file was stored" is exact."""
    instances = {
        id(s): s
        for s in (
            storages["attachments"],
            RequestAttachment._meta.get_field("file").storage,
            CancellationRequest._meta.get_field("attachment").storage,
        )
    }
    for storage in instances.values():
        monkeypatch.setattr(storage, "base_location", str(tmp_path))
        monkeypatch.setattr(storage, "location", str(tmp_path))
    return tmp_path


def stored_files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _dirs, names in os.walk(root)
        for name in names
    )


def address_category(commune) -> RequestCategory:
    """The system category every commune gets from the demandes migration (the test wipe
    empties the session communes, so it is created again from the same definition)."""
    spec = next(
        item
        for item in importlib.import_module("demandes.migrations.0002_default_categories").DEFAULT_CATEGORIES
        if item["code"] == "changement-adresse"
    )
    with commune_context(commune):
        category, _created = RequestCategory.objects.get_or_create(
            code=spec["code"],
            defaults={
                "title": spec["title"],
                "description": spec["description"],
                "fields": spec["fields"],
                "attachment_types": spec["attachment_types"],
                "is_system": True,
            },
        )
    return category


def family_in_both(commune_a, commune_b, email="parent@example.fr", name="Martin"):
    membership = make_family(commune_a, email=email, name=name)
    Membership.objects.create(
        family=membership.family, commune=commune_b, dossier_number="B-1", status=Membership.Status.ACTIVE
    )
    return membership.family


def page(response) -> str:
    return html.unescape(response.content.decode())


def link_in(message) -> str:
    return re.search(r"http://testserver(/\S+)", message.body).group(1)


# --- The profile page --------------------------------------------------------------------------


def test_profile_page_shows_the_family_in_all_its_communes(client, commune_a, commune_b):
    # given a family in two communes
    family = family_in_both(commune_a, commune_b)
    client.force_login(family.guardians.get().account)
    # when the guardian opens "Informations profil"
    response = client.get("/compte/profil/")
    # then the family, its guardian, its child and both files are shown, with the forms
    text = page(response)
    assert response.status_code == 200
    assert "Compte famille — Martin" in text
    assert "Dossiers : Collectivité Démo (n° B-1), Commune de JolieVille (n° F00001)" in text
    assert "Camille Martin" in text and "parent@example.fr" in text
    assert "Léa Martin" in text and "né(e) le 14/05/2017" in text
    assert "Justificatif de domicile" in text
    assert client.get("/compte/").status_code == 200


def test_family_name_and_home_phone_are_saved_for_every_commune(client, commune_a, commune_b):
    family = family_in_both(commune_a, commune_b)
    client.force_login(family.guardians.get().account)
    # when the family's name and home phone change
    response = client.post(
        f"/compte/profil/famille/{family.pk}/",
        {f"f{family.pk}-name": "  Martin-Durand ", f"f{family.pk}-home_phone": "+33 4.76.12.34.56"},
    )
    # then they are stored once (shared identity), the phone written the French way
    assert response.status_code == 302
    family.refresh_from_db()
    assert (family.name, family.home_phone) == ("Martin-Durand", "04 76 12 34 56")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("home_phone", "12345", "Saisissez un numéro de téléphone valide (par exemple 06 12 34 56 78)."),
        ("name", "   ", "Ce champ est obligatoire."),
    ],
)
def test_bad_family_details_are_refused_in_french_and_nothing_changes(
    client, commune_a, field, value, message
):
    family = make_family(commune_a, email="parent@example.fr").family
    client.force_login(family.guardians.get().account)
    data = {f"f{family.pk}-name": "Nouveau nom", f"f{family.pk}-home_phone": "06 12 34 56 78"}
    data[f"f{family.pk}-{field}"] = value
    # when one field is wrong
    response = client.post(f"/compte/profil/famille/{family.pk}/", data)
    # then the page says why, keeps what was typed, and nothing is saved
    text = page(response)
    assert response.status_code == 200
    assert message in text
    assert 'value="Nouveau nom"' in text or field == "name"
    family.refresh_from_db()
    assert (family.name, family.home_phone) == ("Martin", "")


def test_my_details_are_copied_onto_my_guardian_rows(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    client.force_login(account)
    response = client.post(
        "/compte/profil/identite/", {"first_name": "Camille", "last_name": "Martin", "phone": "0612345678"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.phone == "06 12 34 56 78"
    assert Guardian.objects.get(account=account).phone == "06 12 34 56 78"


def test_a_bad_mobile_phone_is_refused_and_nothing_changes(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    client.force_login(account)
    response = client.post(
        "/compte/profil/identite/", {"first_name": "Camille", "last_name": "Martin", "phone": "06 12 ab"}
    )
    assert "Saisissez un numéro de téléphone valide" in page(response)
    account.refresh_from_db()
    assert account.phone == ""


def test_another_familys_profile_cannot_be_changed(client, commune_a):
    mine = make_family(commune_a, email="me@example.fr").family
    other = make_family(commune_a, email="other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(mine.guardians.get().account)
    # when I post to the other family's forms
    responses = [
        client.post(f"/compte/profil/famille/{other.pk}/", {f"f{other.pk}-name": "Piraté"}),
        client.post(
            f"/compte/profil/famille/{other.pk}/responsable/", {f"g{other.pk}-email": "x@example.fr"}
        ),
        client.post(f"/compte/profil/famille/{other.pk}/adresse/", {f"a{other.pk}-city": "Ailleurs"}),
        client.post(f"/compte/profil/famille/{other.pk}/responsable/annuler/"),
    ]
    # then each answers "not found" and nothing changes
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    other.refresh_from_db()
    assert other.name == "Durand"
    assert not Invitation.objects.exists()


# --- The address (proof required, one request per commune) -----------------------------------------


def _address_post(client, family, proof=None, **fields):
    data = {
        f"a{family.pk}-address_line": "12 rue des Lilas",
        f"a{family.pk}-postcode": "38000",
        f"a{family.pk}-city": "Grenoble",
    }
    data.update({f"a{family.pk}-{key}": value for key, value in fields.items()})
    if proof is not None:
        data[f"a{family.pk}-proof"] = proof
    return client.post(f"/compte/profil/famille/{family.pk}/adresse/", data)


def _requests_in(commune) -> int:
    with commune_context(commune):
        return Request.objects.count()


def test_address_change_without_a_proof_is_refused_and_nothing_is_stored(
    client, commune_a, commune_b, private_files
):
    family = family_in_both(commune_a, commune_b)
    address_category(commune_a), address_category(commune_b)
    client.force_login(family.guardians.get().account)
    response = _address_post(client, family)
    text = page(response)
    assert "Joignez un justificatif de domicile (PDF, JPEG ou PNG)" in text
    assert 'value="12 rue des Lilas"' in text
    family.refresh_from_db()
    assert (family.address_line, family.postcode, family.city) == ("", "", "")
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (0, 0)
    assert stored_files(private_files) == []


def test_a_renamed_text_file_is_not_a_proof(client, commune_a, commune_b, private_files):
    family = family_in_both(commune_a, commune_b)
    address_category(commune_a), address_category(commune_b)
    client.force_login(family.guardians.get().account)
    fake = SimpleUploadedFile("justificatif.pdf", b"Ceci n'est pas un PDF", content_type="application/pdf")
    response = _address_post(client, family, proof=fake)
    assert "Ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié)." in page(
        response
    )
    family.refresh_from_db()
    assert family.address_line == ""
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (0, 0)
    assert stored_files(private_files) == []


def test_a_bad_postcode_is_refused_even_with_a_proof(client, commune_a, private_files):
    family = make_family(commune_a, email="parent@example.fr").family
    address_category(commune_a)
    client.force_login(family.guardians.get().account)
    proof = SimpleUploadedFile("edf.pdf", PDF, content_type="application/pdf")
    response = _address_post(client, family, proof=proof, postcode="380")
    assert "Le code postal comporte 5 chiffres (par exemple 38000)." in page(response)
    assert _requests_in(commune_a) == 0
    assert stored_files(private_files) == []


def test_address_change_with_a_proof_files_one_request_per_commune_and_changes_the_address_now(
    client, commune_a, commune_b, private_files, django_capture_on_commit_callbacks
):
    # given a family active in two communes
    family = family_in_both(commune_a, commune_b)
    address_category(commune_a), address_category(commune_b)
    client.force_login(family.guardians.get().account)
    proof = SimpleUploadedFile("Facture EDF.pdf", PDF, content_type="application/pdf")
    # when the guardian gives a new address with a proof
    with django_capture_on_commit_callbacks(execute=True):
        response = _address_post(client, family, proof=proof, postcode="38 000")
    # then the shared address changes at once ...
    assert response.status_code == 302
    family.refresh_from_db()
    assert (family.address_line, family.postcode, family.city) == ("12 rue des Lilas", "38000", "Grenoble")
    followed = page(client.get("/compte/profil/"))
    assert (
        "Une demande « Changement d'adresse » avec votre justificatif est envoyée à : "
        "Collectivité Démo, Commune de JolieVille." in followed
    )
    # ... and each commune has one "Changement d'adresse" request carrying the proof
    for commune in (commune_a, commune_b):
        with commune_context(commune):
            request = Request.objects.get()
            assert (request.family_id, request.title, request.status) == (
                family.pk,
                "Changement d'adresse",
                "submitted",
            )
            assert {a["key"]: a["value"] for a in request.answers} == {
                "address_line": "12 rue des Lilas",
                "postcode": "38000",
                "city": "Grenoble",
            }
            attachment = request.attachments.get()
            assert (attachment.type_code, attachment.original_name, attachment.content_type) == (
                "justificatif_domicile",
                "Facture EDF.pdf",
                "application/pdf",
            )
            assert attachment.file.read() == PDF
    assert [path.split("/")[0:2] for path in stored_files(private_files)] == [
        ["c_demo", "demandes"],
        ["c_jolieville", "demandes"],
    ]


def test_only_communes_where_the_file_is_active_receive_the_request(
    client, commune_a, commune_b, private_files
):
    family = make_family(commune_a, email="parent@example.fr").family
    Membership.objects.create(family=family, commune=commune_b, dossier_number="B-1")  # invited, not active
    address_category(commune_a), address_category(commune_b)
    client.force_login(family.guardians.get().account)
    proof = SimpleUploadedFile("edf.pdf", PDF, content_type="application/pdf")
    _address_post(client, family, proof=proof)
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (1, 0)


def test_a_commune_without_the_address_category_stops_the_change_everywhere(
    client, commune_a, commune_b, private_files
):
    family = family_in_both(commune_a, commune_b)
    address_category(commune_a)
    client.force_login(family.guardians.get().account)
    proof = SimpleUploadedFile("edf.pdf", PDF, content_type="application/pdf")
    response = _address_post(client, family, proof=proof)
    assert response.status_code == 200
    assert "Collectivité Démo ne reçoit pas les changements d'adresse en ligne" in page(response)
    family.refresh_from_db()
    assert family.address_line == ""
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (0, 0)
    assert stored_files(private_files) == []


def test_a_failure_in_the_second_commune_withdraws_the_first_request(
    client, commune_a, commune_b, private_files, monkeypatch
):
    # given the request service fails in the second commune (after the first one committed)
    from family import address

    family = family_in_both(commune_a, commune_b)
    address_category(commune_a), address_category(commune_b)
    real = address.submit_request
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("storage down")
        return real(**kwargs)

    monkeypatch.setattr(address, "submit_request", flaky)
    client.force_login(family.guardians.get().account)
    client.raise_request_exception = False
    proof = SimpleUploadedFile("edf.pdf", PDF, content_type="application/pdf")
    # when the address change is sent
    response = _address_post(client, family, proof=proof)
    # then it fails as a whole: no request, no file, the old address
    assert response.status_code == 500
    assert len(calls) == 2
    family.refresh_from_db()
    assert family.address_line == ""
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (0, 0)
    assert stored_files(private_files) == []


# --- The login e-mail -------------------------------------------------------------------------------


def _ask_email_change(client, capture, new_email="nouveau@example.fr", password=PASSWORD):
    with capture(execute=True):
        return client.post("/compte/email/", {"new_email": new_email, "password": password})


def test_email_change_is_confirmed_by_a_link_sent_to_the_new_address(
    client, commune_a, django_capture_on_commit_callbacks
):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    client.force_login(account)
    mail.outbox.clear()
    # when the guardian asks for a new login address
    response = _ask_email_change(client, django_capture_on_commit_callbacks, new_email=" Nouveau@Example.fr ")
    # then a link goes to the new address, and nothing changes yet
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["nouveau@example.fr"]]
    assert mail.outbox[0].subject == "Confirmez votre nouvelle adresse e-mail Foyer"
    link = link_in(mail.outbox[0])
    assert link.startswith("/compte/email/confirmer/")
    account.refresh_from_db()
    assert account.email == "parent@example.fr"
    assert "Changement en attente : ouvrez le lien envoyé à nouveau@example.fr" in page(
        client.get("/compte/")
    )
    # the token is kept hashed only
    token = link.rstrip("/").split("/")[-1]
    assert not EmailChange.objects.filter(token_hash=token).exists()
    # when the link is opened (a page with a button) and confirmed
    assert "Vous vous connecterez désormais à Foyer avec nouveau@example.fr." in page(client.get(link))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(link)
    # then the account signs in with the new address, the old one is told
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.email == "nouveau@example.fr"
    assert Guardian.objects.get(account=account).email == "nouveau@example.fr"
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    assert "se connecte désormais avec l'adresse nouveau@example.fr" in mail.outbox[0].body
    client.logout()
    assert client.login(request=HttpRequest(), username="nouveau@example.fr", password=PASSWORD)
    assert not client.login(request=HttpRequest(), username="parent@example.fr", password=PASSWORD)
    # and the link works once only
    assert "déjà été confirmée" in page(client.post(link))


def test_an_expired_email_link_changes_nothing(client, commune_a, django_capture_on_commit_callbacks):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    _ask_email_change(client, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[-1])
    EmailChange.objects.update(
        created_at=timezone.now() - dt.timedelta(hours=25),
        expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    response = client.post(link)
    assert response.status_code == 410
    assert "Ce lien a expiré" in page(response)
    account.refresh_from_db()
    assert account.email == "parent@example.fr"


def test_an_address_of_another_account_is_not_revealed_to_the_asker(
    client, commune_a, django_capture_on_commit_callbacks
):
    # given a parent, and another account with the address they ask for
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    make_account("pris@example.fr")
    client.force_login(account)
    mail.outbox.clear()
    # when the parent asks for that address
    response = _ask_email_change(client, django_capture_on_commit_callbacks, new_email="PRIS@example.fr")
    # then the page says what it says for a free address
    assert response.status_code == 302
    assert "Changement en attente : ouvrez le lien envoyé à pris@example.fr" in page(client.get("/compte/"))
    # and the address is told, with no link that could take it
    assert [m.to for m in mail.outbox] == [["pris@example.fr"]]
    assert mail.outbox[0].subject == "Votre adresse e-mail est déjà celle d'un compte Foyer"
    assert "/compte/email/confirmer/" not in mail.outbox[0].body
    account.refresh_from_db()
    assert account.email == "parent@example.fr"


def test_an_address_taken_after_the_request_is_refused_at_confirmation(
    client, commune_a, django_capture_on_commit_callbacks
):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    _ask_email_change(client, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[-1])
    make_account("nouveau@example.fr")  # someone else got there first
    response = client.post(link)
    assert response.status_code == 409
    assert "Cette adresse est devenue celle d'un autre compte Foyer" in page(response)
    account.refresh_from_db()
    assert account.email == "parent@example.fr"


def test_a_wrong_password_or_a_bad_address_is_refused(client, commune_a, django_capture_on_commit_callbacks):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    mail.outbox.clear()
    wrong = page(_ask_email_change(client, django_capture_on_commit_callbacks, password="nope"))
    bad = page(_ask_email_change(client, django_capture_on_commit_callbacks, new_email="pas-une-adresse"))
    assert "Mot de passe incorrect." in wrong
    assert "Saisissez une adresse e-mail valide." in bad
    assert not EmailChange.objects.exists()
    assert mail.outbox == []


def test_password_change_is_reachable_from_my_account(client, commune_a):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    assert 'href="/mot-de-passe/changer/">Changer son mot de passe' in page(client.get("/compte/"))
    new = "Un-autre-mot-de-passe-2027"
    response = client.post(
        "/mot-de-passe/changer/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    # the session stays open, and the new password is the one
    assert client.get("/compte/").status_code == 200
    account.refresh_from_db()
    assert account.check_password(new)


# --- The second guardian --------------------------------------------------------------------


def _invite(client, family, capture, email="alex@example.fr"):
    with capture(execute=True):
        return client.post(f"/compte/profil/famille/{family.pk}/responsable/", {f"g{family.pk}-email": email})


def test_a_second_guardian_creates_an_account_and_reaches_every_commune(
    client, commune_a, commune_b, django_capture_on_commit_callbacks
):
    # given a family in two communes, and its guardian inviting the other parent
    family = family_in_both(commune_a, commune_b)
    client.force_login(family.guardians.get().account)
    mail.outbox.clear()
    response = _invite(client, family, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["alex@example.fr"]]
    assert mail.outbox[0].subject == "Invitation à rejoindre l'espace famille Martin sur Foyer"
    assert "Camille Martin vous invite à devenir responsable de la famille Martin" in mail.outbox[0].body
    invitation = Invitation.objects.get()
    assert (invitation.kind, invitation.family_id, invitation.commune_id, invitation.delivery) == (
        "guardian",
        family.pk,
        None,
        "sent",
    )
    link = link_in(mail.outbox[0])
    # when the invited person opens the link (signed out) and creates an account
    client.logout()
    assert "votre identifiant sera alex@example.fr" in page(client.get(link))
    new_password = "Mot-de-passe-du-second-2026"
    response = client.post(
        link,
        {
            "first_name": "Alex",
            "last_name": "Durand",
            "phone": "07 00 00 00 01",
            "password": new_password,
            "password_confirmation": new_password,
        },
    )
    # then they are signed in as a guardian of this family, with its communes
    assert response.status_code == 302 and response["Location"] == "/"
    alex = Account.objects.get(email="alex@example.fr")
    guardian = Guardian.objects.get(account=alex)
    assert (guardian.family_id, guardian.first_name, guardian.last_name) == (family.pk, "Alex", "Durand")
    dashboard = page(client.get("/"))
    assert "Commune de JolieVille" in dashboard and "Collectivité Démo" in dashboard
    # and the link is used up
    invitation.refresh_from_db()
    assert invitation.used_by == alex
    client.logout()
    assert "déjà été acceptée" in page(client.get(link))


def test_a_second_guardian_with_an_account_signs_in_and_joins(
    client, commune_a, django_capture_on_commit_callbacks
):
    family = make_family(commune_a, email="parent@example.fr").family
    alex = make_account("alex@example.fr", first_name="Alex", last_name="Durand")
    client.force_login(family.guardians.get().account)
    _invite(client, family, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[-1])
    client.logout()
    # signed out: asked to sign in with the existing account
    sign_in = page(client.get(link))
    assert "Vous avez déjà un compte Foyer" in sign_in and f"?next={link}" in sign_in
    # signed in: one click joins the family
    client.force_login(alex)
    assert response_ok(client.get(link))
    response = client.post(link)
    assert response.status_code == 302
    assert Guardian.objects.filter(family=family).count() == 2
    assert Guardian.objects.get(account=alex).family_id == family.pk


def response_ok(response) -> bool:
    return response.status_code == 200 and "Rejoindre la famille" in page(response)


def test_an_invitation_opened_with_another_account_is_refused(
    client, commune_a, django_capture_on_commit_callbacks
):
    family = make_family(commune_a, email="parent@example.fr").family
    intruder = make_account("intrus@example.fr")
    client.force_login(family.guardians.get().account)
    _invite(client, family, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[-1])
    client.force_login(intruder)
    response = client.post(link)
    assert response.status_code == 403
    assert "envoyée à une autre adresse e-mail" in page(response)
    assert Guardian.objects.filter(family=family).count() == 1


def test_a_family_has_two_guardians_at_most(client, commune_a, django_capture_on_commit_callbacks):
    family = make_family(commune_a, email="parent@example.fr").family
    Guardian.objects.create(
        family=family,
        account=make_account("alex@example.fr"),
        first_name="Alex",
        last_name="Durand",
        email="alex@example.fr",
    )
    client.force_login(family.guardians.get(email="parent@example.fr").account)
    mail.outbox.clear()
    response = _invite(client, family, django_capture_on_commit_callbacks, email="tiers@example.fr")
    assert response.status_code == 200
    assert "Votre famille a déjà deux responsables" in page(response)
    already = _invite(client, family, django_capture_on_commit_callbacks, email="alex@example.fr")
    assert "Cette personne est déjà responsable de la famille, avec son compte." in page(already)
    assert not Invitation.objects.exists()
    assert mail.outbox == []


# --- REST API -----------------------------------------------------------------------------------


def test_api_reads_the_profile(client, commune_a, commune_b):
    family = family_in_both(commune_a, commune_b)
    account = family.guardians.get().account
    client.force_login(account)
    data = client.get("/api/profil/").json()
    assert data["email"] == "parent@example.fr"
    assert data["preferences"] == {"invoice": True, "request": True, "reminder": False, "news": True}
    assert [f["id"] for f in data["families"]] == [family.pk]
    assert [c["slug"] for c in data["families"][0]["communes"]] == ["demo", "jolieville"]
    assert data["families"][0]["guardians"][0]["is_me"] is True
    assert client.logout() is None and client.get("/api/profil/").status_code == 401


def test_api_updates_phones_and_family_name_with_french_errors(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    client.force_login(family.guardians.get().account)
    ok = client.patch(
        f"/api/profil/familles/{family.pk}/", {"name": "Martin-Durand"}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["name"] == "Martin-Durand"
    bad = client.patch("/api/profil/", {"phone": "123"}, content_type="application/json")
    assert bad.status_code == 400
    assert bad.json() == {
        "code": "invalid",
        "message": "Vos informations n'ont pas été enregistrées : corrigez les erreurs.",
        "extra": {
            "fields": {"phone": ["Saisissez un numéro de téléphone valide (par exemple 06 12 34 56 78)."]}
        },
    }
    good = client.patch("/api/profil/", {"phone": "+33612345678"}, content_type="application/json")
    assert good.json()["phone"] == "06 12 34 56 78"


def test_api_address_change_requires_the_proof(client, commune_a, commune_b, private_files):
    family = family_in_both(commune_a, commune_b)
    address_category(commune_a), address_category(commune_b)
    client.force_login(family.guardians.get().account)
    address = {"address_line": "3 place du Marché", "postcode": "38100", "city": "Grenoble"}
    refused = client.post(f"/api/profil/familles/{family.pk}/adresse/", address)
    assert refused.status_code == 400
    assert list(refused.json()["extra"]["fields"]) == ["proof"]
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (0, 0)
    proof = SimpleUploadedFile("quittance.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, content_type="image/png")
    accepted = client.post(f"/api/profil/familles/{family.pk}/adresse/", {**address, "justificatif": proof})
    assert accepted.status_code == 201
    assert accepted.json()["family"]["address"] == address
    assert sorted(r["commune"] for r in accepted.json()["requests"]) == ["demo", "jolieville"]
    assert (_requests_in(commune_a), _requests_in(commune_b)) == (1, 1)


def test_api_another_familys_profile_is_404(client, commune_a, private_files):
    mine = make_family(commune_a, email="me@example.fr").family
    other = make_family(commune_a, email="other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(mine.guardians.get().account)
    patched = client.patch(
        f"/api/profil/familles/{other.pk}/", {"name": "X"}, content_type="application/json"
    )
    proof = SimpleUploadedFile("edf.pdf", PDF, content_type="application/pdf")
    moved = client.post(
        f"/api/profil/familles/{other.pk}/adresse/",
        {"address_line": "1 rue", "postcode": "38000", "city": "Grenoble", "justificatif": proof},
    )
    assert (patched.status_code, moved.status_code) == (404, 404)
    other.refresh_from_db()
    assert (other.name, other.address_line) == ("Durand", "")
    assert stored_files(private_files) == []


def test_profile_page_queries_do_not_grow_with_the_communes(client, commune_a, commune_b):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    family = make_family(commune_a, email="parent@example.fr").family
    client.force_login(family.guardians.get().account)
    client.get("/compte/profil/")
    with CaptureQueriesContext(connection) as one:
        client.get("/compte/profil/")
    Membership.objects.create(family=family, commune=commune_b, dossier_number="B-1", status="active")
    with CaptureQueriesContext(connection) as two:
        assert "Collectivité Démo (n° B-1)" in page(client.get("/compte/profil/"))
    assert len(two.captured_queries) == len(one.captured_queries)
    assert not [q for q in two.captured_queries if "c_jolieville" in q["sql"] or "c_demo" in q["sql"]]


def test_an_invitation_never_takes_over_a_guardian_who_got_a_login_meanwhile(
    client, commune_a, django_capture_on_commit_callbacks
):
    # given a guardian row without a login, invited to join with their own
    family = make_family(commune_a, email="parent@example.fr").family
    row = Guardian.objects.create(
        family=family, first_name="Alex", last_name="Durand", email="alex@example.fr"
    )
    client.force_login(family.guardians.get(email="parent@example.fr").account)
    _invite(client, family, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[-1])
    # and that row gets another login before the link is used
    other = make_account("alex.durand@example.fr")
    Guardian.objects.filter(pk=row.pk).update(account=other)
    # when the invited address accepts
    client.force_login(make_account("alex@example.fr"))
    response = client.post(link)
    # then it is refused and the row keeps its login
    assert response.status_code == 409
    assert "Ce responsable a déjà son propre compte" in page(response)
    assert Guardian.objects.get(pk=row.pk).account == other
