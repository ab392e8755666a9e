"""REST API: the family's requests across communes, one request, filing with attachments,
replying, cancelling, the categories; errors as {"code", "message", "extra"}."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from demandes.models import Request
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.demandes.conftest import PICKUP_ANSWERS, file_pickup, guardian_of, pdf, stored_files


def test_the_list_spans_communes_in_one_router_query(client, commune_a, commune_b, family_a, defaults_b):
    # given
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    first = file_pickup(commune_a, family_a)
    second = file_pickup(commune_b, family_a)
    client.force_login(guardian_of(family_a))
    # when
    with CaptureQueriesContext(connection) as context:
        response = client.get("/api/demandes/")
    # then
    assert response.status_code == 200
    assert [(r["commune"], r["id"], r["status"], r["status_label"]) for r in response.json()["requests"]] == [
        ("demo", second.pk, "submitted", "Déposée"),
        ("jolieville", first.pk, "submitted", "Déposée"),
    ]
    assert len([q for q in context.captured_queries if "UNION ALL" in q["sql"]]) == 1


def test_categories_of_a_commune(client, commune_a, family_a):
    client.force_login(guardian_of(family_a))
    response = client.get(commune_path(commune_a, "api/demandes/categories/"))
    assert response.status_code == 200
    categories = {c["code"]: c for c in response.json()["categories"]}
    assert sorted(categories) == ["allergie-pai", "attestation", "autorisation-recuperation", "autre-demande"]
    assert categories["autorisation-recuperation"]["attachment_types"] == [
        {"code": "piece_identite", "label": "Pièce d'identité"}
    ]


def test_file_a_request_with_attachments_then_reply_and_read_it(client, commune_a, family_a, private_files):
    client.force_login(guardian_of(family_a))
    # when
    response = client.post(
        commune_path(commune_a, "api/demandes/"),
        {
            "category": "autorisation-recuperation",
            "child": family_a.family.children.get().pk,
            "answers": json.dumps(PICKUP_ANSWERS),
            "piece_identite": pdf("cni.pdf"),
        },
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["title"], body["child"]) == (
        "submitted",
        "Autorisation de récupération d'un enfant",
        family_a.family.children.get().pk,
    )
    attachment = body["events"][0]["attachments"][0]
    assert attachment["name"] == "cni.pdf" and attachment["url"] == commune_path(
        commune_a, f"demandes/pieces/{attachment['id']}/"
    )
    # reply with a document
    response = client.post(
        commune_path(commune_a, f"api/demandes/{body['id']}/reponses/"),
        {"message": "Complément", "autre": pdf("complement.pdf")},
    )
    assert response.status_code == 201
    assert response.json()["attachments"][0]["type_code"] == "autre"
    detail = client.get(commune_path(commune_a, f"api/demandes/{body['id']}/")).json()
    assert [e["kind"] for e in detail["events"]] == ["created", "reply"]
    assert len(stored_files(private_files)) == 2
    # cancel
    response = client.post(commune_path(commune_a, f"api/demandes/{body['id']}/annuler/"))
    assert response.json()["status"] == "cancelled"
    response = client.post(commune_path(commune_a, f"api/demandes/{body['id']}/reponses/"), {"message": "x"})
    assert response.status_code == 409
    assert response.json()["code"] == "request_closed"


def test_a_bad_upload_is_refused_with_the_error_format_and_nothing_stored(
    client, commune_a, family_a, private_files
):
    client.force_login(guardian_of(family_a))
    response = client.post(
        commune_path(commune_a, "api/demandes/"),
        {
            "category": "autorisation-recuperation",
            "child": family_a.family.children.get().pk,
            "answers": json.dumps(PICKUP_ANSWERS),
            "piece_identite": SimpleUploadedFile("cni.png", b"not an image", content_type="image/png"),
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "La demande n'a pas été envoyée : corrigez les erreurs.",
        "extra": {
            "fields": {
                "piece_identite": [
                    "« cni.png » : ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié)."
                ]
            }
        },
    }
    with commune_context(commune_a):
        assert not Request.objects.exists()
    assert stored_files(private_files) == []


def test_answers_must_be_a_json_object(client, commune_a, family_a):
    client.force_login(guardian_of(family_a))
    response = client.post(
        commune_path(commune_a, "api/demandes/"), {"category": "autre-demande", "answers": "[1, 2]"}
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"answers": ["Objet JSON attendu."]}


def test_another_family_and_another_commune_get_not_found(
    client, commune_a, commune_b, family_a, other_family_a
):
    request = file_pickup(commune_a, family_a)
    client.force_login(guardian_of(other_family_a))
    for method, url in (
        ("get", commune_path(commune_a, f"api/demandes/{request.pk}/")),
        ("post", commune_path(commune_a, f"api/demandes/{request.pk}/reponses/")),
        ("post", commune_path(commune_a, f"api/demandes/{request.pk}/annuler/")),
    ):
        response = getattr(client, method)(url, {"message": "x"} if method == "post" else None)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    assert client.get("/api/demandes/").json() == {"requests": []}
    # a family that is not a member of commune B
    client.force_login(guardian_of(family_a))
    assert client.get(commune_path(commune_b, "api/demandes/categories/")).status_code == 404
    assert (
        client.post(commune_path(commune_b, "api/demandes/"), {"category": "autre-demande"}).status_code
        == 404
    )
    with commune_context(commune_a):
        assert Request.objects.get().events.count() == 1


def test_signed_out_gets_the_error_format(client, commune_a):
    response = client.get("/api/demandes/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
