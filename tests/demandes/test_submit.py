"""Filing a request: answers and documents checked (type from the content, size, count,
required documents), refused as a whole with a clear French message, nothing stored then."""

import datetime as dt
import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from demandes import services
from demandes.models import Request, RequestAttachment, RequestCategory, RequestEvent
from foyer import rate_limits
from foyer.errors import FoyerError, NotFound
from tenants.context import commune_context
from tests.conftest import commune_path, make_family
from tests.demandes.conftest import (
    PDF,
    PICKUP_ANSWERS,
    category,
    file_pickup,
    guardian_of,
    pdf,
    png,
    stored_files,
)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def nothing_stored(commune, storage) -> bool:
    with commune_context(commune):
        return (
            not Request.objects.exists()
            and not RequestEvent.objects.exists()
            and not RequestAttachment.objects.exists()
            and stored_files(storage) == []
        )


def test_a_request_is_filed_with_its_answers_history_and_private_files(commune_a, family_a, private_files):
    # when
    request = file_pickup(commune_a, family_a, attachments=[("piece_identite", pdf("Carte d'identité.PDF"))])
    # then
    with commune_context(commune_a):
        request = Request.objects.get(pk=request.pk)
        assert (request.status, request.title, request.family_id) == (
            "submitted",
            "Autorisation de récupération d'un enfant",
            family_a.family.pk,
        )
        assert request.child == family_a.family.children.get()
        assert [(a["key"], a["display"]) for a in request.answers] == [
            ("child", "Léa Martin"),
            ("personne_autorisee", "Jeanne Martin"),
            ("lien", "Grand-mère"),
            ("telephone", "06 12 34 56 78"),
            ("date_debut", "11/01/2027"),
        ]
        event = request.events.get()
        assert (event.kind, event.side, event.actor) == ("created", "family", guardian_of(family_a))
        attachment = request.attachments.get()
        assert (attachment.original_name, attachment.content_type, attachment.size, attachment.type_code) == (
            "Carte d'identité.PDF",
            "application/pdf",
            len(PDF),
            "piece_identite",
        )
        assert attachment.event == event and attachment.uploaded_by == guardian_of(family_a)
        assert attachment.file.name.startswith(f"c_jolieville/demandes/{request.pk}/")
        assert attachment.file.name.endswith(".pdf")
        with attachment.file.open("rb") as stored:
            assert stored.read() == PDF
    assert stored_files(private_files) == [attachment.file.name]


def test_the_stored_extension_is_the_sniffed_type_not_the_uploaded_name(commune_a, family_a):
    # given a real PNG named .pdf (the category accepts PNG)
    request = file_pickup(commune_a, family_a, attachments=[("piece_identite", png("scan.pdf"))])
    # then
    with commune_context(commune_a):
        attachment = RequestAttachment.objects.get(request=request)
        assert attachment.content_type == "image/png"
        assert attachment.file.name.endswith(".png")
        assert attachment.download_name == "scan.png"


@pytest.mark.parametrize(
    ("attachments", "field", "message"),
    [
        (
            [("piece_identite", SimpleUploadedFile("cni.pdf", b"MZ\x90\x00 not a pdf at all"))],
            "piece_identite",
            "« cni.pdf » : ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié).",
        ),
        (
            [("piece_identite", pdf("cni.pdf", PDF + b"0" * (5 * 1024 * 1024)))],
            "piece_identite",
            "« cni.pdf » : le fichier dépasse 5 Mo.",
        ),
        (
            [("piece_identite", SimpleUploadedFile("cni.pdf", b""))],
            "piece_identite",
            "« cni.pdf » : le fichier est vide.",
        ),
        (
            [("piece_identite", pdf(f"p{i}.pdf")) for i in range(6)],
            "attachments",
            "5 fichiers au plus par envoi : vous en avez joint 6.",
        ),
        ([], "piece_identite", "Pièce jointe obligatoire : Pièce d'identité."),
        (
            [("autre", pdf("autre.pdf"))],
            "piece_identite",
            "Pièce jointe obligatoire : Pièce d'identité.",
        ),
    ],
    ids=["renamed-extension", "too-large", "empty", "too-many", "missing", "wrong-slot"],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    commune_a, family_a, private_files, attachments, field, message
):
    # when
    with pytest.raises(FoyerError) as error:
        file_pickup(commune_a, family_a, attachments=attachments)
    # then
    assert error.value.code == "invalid"
    assert error.value.message == "La demande n'a pas été envoyée : corrigez les erreurs."
    assert error.value.field_errors[field] == [message]
    assert nothing_stored(commune_a, private_files)


def test_a_type_the_category_does_not_accept_is_refused_even_with_the_right_extension(
    commune_a, family_a, private_files
):
    # given the commune accepts only PDF for this category
    with commune_context(commune_a):
        RequestCategory.objects.filter(code="autorisation-recuperation").update(
            file_types=["application/pdf"]
        )
    # when a JPEG named .pdf is sent
    jpeg = SimpleUploadedFile("cni.pdf", b"\xff\xd8\xff\xe0" + b"\x00" * 64, content_type="application/pdf")
    with pytest.raises(FoyerError) as error:
        file_pickup(commune_a, family_a, attachments=[("piece_identite", jpeg)])
    # then
    assert error.value.field_errors["piece_identite"] == [
        "« cni.pdf » : ce fichier n'est pas d'un type accepté ici (PDF) : son contenu a été vérifié."
    ]
    assert nothing_stored(commune_a, private_files)


def test_a_smaller_size_limit_of_the_category_is_enforced(commune_a, family_a, private_files):
    with commune_context(commune_a):
        RequestCategory.objects.filter(code="autorisation-recuperation").update(max_file_mb=1)
    with pytest.raises(FoyerError) as error:
        file_pickup(
            commune_a, family_a, attachments=[("piece_identite", pdf("cni.pdf", PDF + b"0" * 1024 * 1024))]
        )
    assert error.value.field_errors["piece_identite"] == ["« cni.pdf » : le fichier dépasse 1 Mo."]
    assert nothing_stored(commune_a, private_files)


def test_answers_are_checked_field_by_field(commune_a, family_a, private_files):
    # when: a required answer is missing, a date is not a date, no child is chosen
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.submit_request(
            family=family_a.family,
            actor=guardian_of(family_a),
            category=RequestCategory.objects.get(code="autorisation-recuperation"),
            answers={**PICKUP_ANSWERS, "personne_autorisee": "  ", "date_debut": "31/02/2027"},
            attachments=[("piece_identite", pdf())],
        )
    # then
    assert error.value.field_errors == {
        "child": ["Choisissez l'enfant concerné."],
        "personne_autorisee": ["Ce champ est obligatoire."],
        "date_debut": ["Saisissez une date valide (jj/mm/aaaa)."],
    }
    assert nothing_stored(commune_a, private_files)


def test_a_choice_must_be_one_of_the_category_choices(commune_a, family_a, private_files):
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.submit_request(
            family=family_a.family,
            actor=guardian_of(family_a),
            category=RequestCategory.objects.get(code="attestation"),
            answers={"type_attestation": "Autre chose", "annee": "2026"},
            attachments=[],
        )
    assert error.value.field_errors == {"type_attestation": ["Choisissez une des réponses proposées."]}
    assert nothing_stored(commune_a, private_files)


def test_another_familys_child_cannot_be_named(commune_a, family_a, other_family_a, private_files):
    with pytest.raises(FoyerError) as error:
        with commune_context(commune_a):
            services.submit_request(
                family=family_a.family,
                actor=guardian_of(family_a),
                category=RequestCategory.objects.get(code="autorisation-recuperation"),
                answers=dict(PICKUP_ANSWERS),
                attachments=[("piece_identite", pdf())],
                child=other_family_a.family.children.get(),
            )
    assert error.value.field_errors["child"] == ["Choisissez un enfant de votre famille."]
    assert nothing_stored(commune_a, private_files)


def test_a_family_files_only_in_its_own_communes_and_for_itself(
    commune_a, commune_b, family_a, other_family_a, defaults_b, private_files
):
    # a family that is not a member of commune B
    with commune_context(commune_b), pytest.raises(NotFound):
        services.submit_request(
            family=family_a.family,
            actor=guardian_of(family_a),
            category=RequestCategory.objects.get(code="autre-demande"),
            answers={"objet": "Question", "message": "Bonjour"},
            attachments=[],
        )
    # a guardian filing for a family that is not theirs
    with commune_context(commune_a), pytest.raises(NotFound):
        services.submit_request(
            family=other_family_a.family,
            actor=guardian_of(family_a),
            category=RequestCategory.objects.get(code="autre-demande"),
            answers={"objet": "Question", "message": "Bonjour"},
            attachments=[],
        )
    assert nothing_stored(commune_a, private_files) and nothing_stored(commune_b, private_files)


def test_an_inactive_category_cannot_be_used(commune_a, family_a, private_files):
    with commune_context(commune_a):
        RequestCategory.objects.filter(code="autorisation-recuperation").update(is_active=False)
    with pytest.raises(FoyerError) as error:
        file_pickup(commune_a, family_a)
    assert error.value.message == "Cette catégorie de demande n'est plus proposée par la commune."
    assert nothing_stored(commune_a, private_files)


def test_the_change_of_address_system_category_is_filed_by_the_service(commune_a, family_a, private_files):
    # given the contract used by the profile page
    address = category(commune_a, "changement-adresse")
    assert address.is_system and address.attachment_types == ["justificatif_domicile"]
    # when
    with commune_context(commune_a):
        request = services.submit_request(
            family=family_a.family,
            actor=guardian_of(family_a),
            category=address,
            answers={"address_line": "3 rue des Lilas", "postcode": "38000", "city": "Grenoble"},
            attachments=[("justificatif_domicile", pdf("facture-edf.pdf"))],
        )
        # then
        assert request.status == "submitted"
        assert request.attachments.get().type_code == "justificatif_domicile"
    # and without the proof of address it is refused
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.submit_request(
            family=family_a.family,
            actor=guardian_of(family_a),
            category=address,
            answers={"address_line": "3 rue des Lilas", "postcode": "38000", "city": "Grenoble"},
            attachments=[],
        )
    assert error.value.field_errors == {
        "justificatif_domicile": ["Pièce jointe obligatoire : Justificatif de domicile."]
    }


# --- The pages -------------------------------------------------------------------------------------


def test_faire_une_demande_from_the_portal_chooses_the_commune_then_the_category(
    client, commune_a, commune_b, defaults_a, defaults_b
):
    # given a family in both communes
    membership = make_family(commune_a, email="parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    client.force_login(guardian_of(membership))
    # when
    page = page_text(client.get("/demandes/nouvelle/"))
    # then each commune lists its categories, the system one aside
    assert "Commune de JolieVille" in page and "Collectivité Démo" in page
    assert page.count("Autorisation de récupération d'un enfant") == 2
    assert "/c/jolieville/demandes/nouvelle/autorisation-recuperation/" in page
    assert "/c/demo/demandes/nouvelle/autorisation-recuperation/" in page
    assert "Changement d'adresse" not in page
    # the commune's home has an entry point too
    assert "/c/jolieville/demandes/nouvelle/" in page_text(client.get(commune_path(commune_a)))
    assert "Changement d'adresse" not in page_text(client.get(commune_path(commune_a, "demandes/nouvelle/")))
    assert client.get(commune_path(commune_a, "demandes/nouvelle/changement-adresse/")).status_code == 404


def test_the_form_page_files_a_request(client, commune_a, family_a, private_files):
    client.force_login(guardian_of(family_a))
    url = commune_path(commune_a, "demandes/nouvelle/autorisation-recuperation/")
    form = page_text(client.get(url))
    assert "Pièce(s) jointe(s) obligatoire(s) :</strong> Pièce d'identité" in form
    assert 'accept="application/pdf,image/jpeg,image/png,.pdf,.jpg,.png,.jpeg"' in form
    # when
    response = client.post(
        url,
        {
            "child": family_a.family.children.get().pk,
            **PICKUP_ANSWERS,
            "date_debut": "11/01/2027",
            "piece_identite": pdf("cni.pdf"),
        },
    )
    # then
    with commune_context(commune_a):
        request = Request.objects.get()
        assert request.answers[-1]["value"] == dt.date(2027, 1, 11).isoformat()
    assert response["Location"] == commune_path(commune_a, f"demandes/{request.pk}/")
    detail = page_text(client.get(response["Location"]))
    assert f"Votre demande n° {request.pk} est envoyée à Commune de JolieVille." in detail
    assert "Déposée" in detail and "cni.pdf" in detail
    assert len(stored_files(private_files)) == 1


def test_the_form_page_refuses_a_renamed_file_and_keeps_what_was_typed(
    client, commune_a, family_a, private_files
):
    client.force_login(guardian_of(family_a))
    url = commune_path(commune_a, "demandes/nouvelle/autorisation-recuperation/")
    # when: a text file renamed .pdf
    response = client.post(
        url,
        {
            "child": family_a.family.children.get().pk,
            **PICKUP_ANSWERS,
            "piece_identite": SimpleUploadedFile(
                "cni.pdf", b"juste du texte", content_type="application/pdf"
            ),
        },
    )
    # then
    page = page_text(response)
    assert response.status_code == 200
    assert (
        "« cni.pdf » : ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié)."
        in page
    )
    assert 'value="Jeanne Martin"' in page
    assert nothing_stored(commune_a, private_files)


def test_the_form_page_says_which_document_is_missing(client, commune_a, family_a, private_files):
    client.force_login(guardian_of(family_a))
    url = commune_path(commune_a, "demandes/nouvelle/autorisation-recuperation/")
    response = client.post(url, {"child": family_a.family.children.get().pk, **PICKUP_ANSWERS})
    assert "Pièce jointe obligatoire : Pièce d'identité." in page_text(response)
    assert nothing_stored(commune_a, private_files)


def test_a_family_not_member_of_the_commune_gets_not_found(client, commune_b, family_a, defaults_b):
    client.force_login(guardian_of(family_a))
    assert client.get(commune_path(commune_b, "demandes/nouvelle/")).status_code == 404
    assert client.get(commune_path(commune_b, "demandes/nouvelle/autre-demande/")).status_code == 404


def test_a_family_files_at_most_so_many_requests_an_hour(commune_a, family_a, private_files, monkeypatch):
    # given a limit of 2 requests an hour
    monkeypatch.setattr(rate_limits, "REQUESTS_PER_HOUR", 2)
    file_pickup(commune_a, family_a)
    file_pickup(commune_a, family_a)
    # when a third is filed
    with pytest.raises(FoyerError) as error:
        file_pickup(commune_a, family_a)
    # then it is refused with a French message and nothing is stored for it
    assert error.value.status == 429
    assert "renvoyez-la un peu plus tard" in error.value.message
    with commune_context(commune_a):
        assert Request.objects.count() == 2
