"""While a request is open the family replies, adds a document or cancels it; then it is
closed. Another family gets not found."""

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from demandes import services
from demandes.models import Request, RequestAttachment, RequestEvent
from foyer.errors import FoyerError, NotFound
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.demandes.conftest import file_pickup, guardian_of, pdf, png, stored_files


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_family_replies_and_adds_a_document(client, commune_a, family_a, private_files):
    # given
    request = file_pickup(commune_a, family_a)
    client.force_login(guardian_of(family_a))
    # when
    response = client.post(
        commune_path(commune_a, f"demandes/{request.pk}/repondre/"),
        {"message": "Voici le verso.", "type_code": "piece_identite", "documents": [png("verso.png")]},
    )
    # then
    assert response["Location"] == commune_path(commune_a, f"demandes/{request.pk}/")
    with commune_context(commune_a):
        event = RequestEvent.objects.get(request=request, kind="reply")
        assert (event.side, event.actor, event.message) == (
            "family",
            guardian_of(family_a),
            "Voici le verso.",
        )
        added = event.attachments.get()
        assert (added.type_code, added.content_type, added.original_name) == (
            "piece_identite",
            "image/png",
            "verso.png",
        )
        assert RequestAttachment.objects.filter(request=request).count() == 2
    assert len(stored_files(private_files)) == 2
    page = page_text(client.get(response["Location"]))
    assert "Votre réponse est envoyée à la commune." in page and "verso.png" in page


def test_an_empty_reply_or_a_bad_document_is_refused(client, commune_a, family_a, private_files):
    request = file_pickup(commune_a, family_a)
    client.force_login(guardian_of(family_a))
    url = commune_path(commune_a, f"demandes/{request.pk}/repondre/")
    # nothing at all
    response = client.post(url, {"message": "  "})
    assert response.status_code == 400
    assert "Écrivez un message ou joignez un document." in page_text(response)
    # a renamed file, with a message that is kept on the page
    fake = SimpleUploadedFile("releve.pdf", b"GIF89a...", content_type="application/pdf")
    response = client.post(url, {"message": "Le relevé", "type_code": "autre", "documents": [fake]})
    page = page_text(response)
    assert (
        "« releve.pdf » : ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié)."
        in page
    )
    assert "Le relevé</textarea>" in page
    with commune_context(commune_a):
        assert list(RequestEvent.objects.filter(request=request).values_list("kind", flat=True)) == [
            "created"
        ]
    assert len(stored_files(private_files)) == 1


def test_the_family_cancels_an_open_request_then_it_is_closed(client, commune_a, family_a, private_files):
    request = file_pickup(commune_a, family_a)
    client.force_login(guardian_of(family_a))
    # when
    response = client.post(commune_path(commune_a, f"demandes/{request.pk}/annuler/"))
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "cancelled" and request.closed_at is not None
        event = request.events.get(kind="status")
        assert (event.side, event.from_status, event.to_status) == ("family", "submitted", "cancelled")
    page = page_text(client.get(commune_path(commune_a, f"demandes/{request.pk}/")))
    assert "Votre demande est annulée." in page and "Cette demande est close." in page
    assert "Répondre ou ajouter un document" not in page
    # a closed request takes no reply and no second cancel
    response = client.post(commune_path(commune_a, f"demandes/{request.pk}/repondre/"), {"message": "Encore"})
    assert "Cette demande est close (annulée) : elle ne peut plus être modifiée." in page_text(
        client.get(response["Location"])
    )
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.cancel_request(
            family_ids=[family_a.family.pk], actor=guardian_of(family_a), request_id=request.pk
        )
    assert error.value.status == 409
    with commune_context(commune_a):
        assert request.events.count() == 2


def test_another_family_cannot_see_reply_to_or_cancel_a_request(
    client, commune_a, commune_b, family_a, other_family_a, defaults_b
):
    request = file_pickup(commune_a, family_a)
    client.force_login(guardian_of(other_family_a))
    assert client.get(commune_path(commune_a, f"demandes/{request.pk}/")).status_code == 404
    assert (
        client.post(commune_path(commune_a, f"demandes/{request.pk}/repondre/"), {"message": "x"}).status_code
        == 404
    )
    assert client.post(commune_path(commune_a, f"demandes/{request.pk}/annuler/")).status_code == 404
    with commune_context(commune_a), pytest.raises(NotFound):
        services.reply_to_request(
            family_ids=[other_family_a.family.pk],
            actor=guardian_of(other_family_a),
            request_id=request.pk,
            message="x",
        )
    # the owning family, through another commune: the request is not there
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    client.force_login(guardian_of(family_a))
    assert client.get(commune_path(commune_b, f"demandes/{request.pk}/")).status_code == 404
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "submitted" and request.events.count() == 1


def test_documents_of_a_request_are_limited_per_sending(commune_a, family_a, private_files):
    request = file_pickup(commune_a, family_a)
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.reply_to_request(
            family_ids=[family_a.family.pk],
            actor=guardian_of(family_a),
            request_id=request.pk,
            attachments=[("autre", pdf(f"{n}.pdf")) for n in range(6)],
        )
    assert error.value.field_errors == {
        "attachments": ["5 fichiers au plus par envoi : vous en avez joint 6."]
    }
    with commune_context(commune_a):
        assert Request.objects.get().attachments.count() == 1
    assert len(stored_files(private_files)) == 1
