"""The commune's side: the queue and its filters, assignment, status changes with comments,
the full history (who, when), e-mails to the family after commit, and the categories."""

import html

import pytest
from django.core import mail

from demandes import services
from demandes.models import Request, RequestCategory
from foyer.errors import FoyerError, NotFound
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.conftest import commune_path, make_staff
from tests.demandes.conftest import category, file_pickup, guardian_of, pdf


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def console(commune, rest: str = "") -> str:
    return commune_path(commune, f"console/demandes/{rest}")


def _ask(commune, membership, objet: str) -> Request:
    with commune_context(commune):
        return services.submit_request(
            family=membership.family,
            actor=guardian_of(membership),
            category=category(commune, "autre-demande"),
            answers={"objet": objet, "message": "Bonjour"},
            attachments=[],
        )


def test_the_queue_filters_by_status_category_assignee_and_search(
    client, commune_a, family_a, other_family_a, agent_a
):
    # given
    pickup = file_pickup(commune_a, family_a)
    question = _ask(commune_a, other_family_a, "Cantine")
    colleague = make_staff(commune_a, "collegue@jolieville.test")
    with commune_context(commune_a):
        services.assign_request(request_id=question.pk, actor=agent_a, assignee_id=colleague.pk)
        services.change_request_status(request_id=pickup.pk, actor=agent_a, status="in_progress")
        autre = RequestCategory.objects.get(code="autre-demande")
    client.force_login(agent_a)

    def listed(query: str) -> list[int]:
        page = page_text(client.get(console(commune_a) + query))
        return [r.pk for r in (pickup, question) if f'href="{console(commune_a, f"{r.pk}/")}"' in page]

    # then
    assert listed("") == [pickup.pk, question.pk]
    assert listed("?statut=in_progress") == [pickup.pk]
    assert listed(f"?categorie={autre.pk}") == [question.pk]
    assert listed(f"?attribuee={colleague.pk}") == [question.pk]
    assert listed("?attribuee=personne") == [pickup.pk]
    assert listed("?attribuee=moi") == []
    assert listed("?q=durand") == [question.pk]
    assert listed("?q=F00001") == [pickup.pk]
    assert listed(f"?q={pickup.pk}") == [pickup.pk]
    assert listed("?q=Léa") == [pickup.pk]  # the child named in the request
    assert listed("?q=zzz") == []


def test_the_queue_pins_its_query_count(client, commune_a, family_a, other_family_a, agent_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(agent_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(console(commune_a)).status_code == 200
        return len([q for q in context.captured_queries if not q["sql"].startswith("SET search_path")])

    _ask(commune_a, family_a, "Question")
    few = count()
    for n in range(4):
        _ask(commune_a, family_a, f"Question {n}")
        file_pickup(commune_a, other_family_a)
    # commune, session, account, staff role, staff list, categories, count, page of requests
    assert few == count() == 8


def test_an_agent_takes_decides_and_the_family_is_told_by_email(
    client, commune_a, family_a, agent_a, django_capture_on_commit_callbacks
):
    # given
    request = file_pickup(commune_a, family_a)
    client.force_login(agent_a)
    # when: taken in hand without a comment — no e-mail
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(console(commune_a, f"{request.pk}/statut/"), {"statut-status": "in_progress"})
    assert response.status_code == 302
    assert mail.outbox == []
    # when: accepted with a comment
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            console(commune_a, f"{request.pk}/statut/"),
            {"statut-status": "accepted", "statut-message": "Autorisation enregistrée à l'école."},
        )
    # then
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    assert mail.outbox[0].subject == (
        "Demande acceptée : Autorisation de récupération d'un enfant — Commune de JolieVille"
    )
    assert "Elle est acceptée." in mail.outbox[0].body
    assert "Autorisation enregistrée à l'école." in mail.outbox[0].body
    assert f"http://testserver/c/jolieville/demandes/{request.pk}/" in mail.outbox[0].body
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "accepted" and request.closed_at is not None
        events = list(request.events.values_list("kind", "side", "actor__email", "from_status", "to_status"))
    assert events == [
        ("created", "family", "parent@example.fr", "", ""),
        ("status", "commune", "agent@jolieville.test", "submitted", "in_progress"),
        ("status", "commune", "agent@jolieville.test", "in_progress", "accepted"),
    ]
    # the history shows who and when
    page = page_text(client.get(console(commune_a, f"{request.pk}/")))
    assert "Statut : en cours → acceptée." in page
    assert "Camille Martin (commune)" in page and "(famille)" in page
    assert "Traiter la demande" not in page


def test_a_refusal_needs_a_comment(client, commune_a, family_a, agent_a):
    request = file_pickup(commune_a, family_a)
    client.force_login(agent_a)
    response = client.post(console(commune_a, f"{request.pk}/statut/"), {"statut-status": "rejected"})
    assert response.status_code == 400
    assert "Ce champ est obligatoire pour un refus." in page_text(response)
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "submitted" and request.events.count() == 1


def test_a_closed_request_cannot_change_again(commune_a, family_a, agent_a):
    request = file_pickup(commune_a, family_a)
    with commune_context(commune_a):
        services.change_request_status(request_id=request.pk, actor=agent_a, status="accepted")
        with pytest.raises(FoyerError) as error:
            services.change_request_status(
                request_id=request.pk, actor=agent_a, status="rejected", message="Non"
            )
        assert error.value.status == 409
        assert error.value.message == "Cette demande est close (acceptée) : elle ne peut plus être modifiée."
        assert request.events.count() == 2


def test_agent_messages_go_to_the_family_notes_do_not(
    client, commune_a, family_a, agent_a, django_capture_on_commit_callbacks, private_files
):
    request = file_pickup(commune_a, family_a)
    client.force_login(agent_a)
    # a note
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            console(commune_a, f"{request.pk}/message/"),
            {"message-message": "Appeler l'école", "message-internal": "on"},
        )
    assert mail.outbox == []
    # a message with a document
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            console(commune_a, f"{request.pk}/message/"),
            {
                "message-message": "Voici l'attestation.",
                "message-type_code": "autre",
                "message-documents": pdf("attestation.pdf"),
            },
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == (
        "Nouveau message sur votre demande : Autorisation de récupération d'un enfant — Commune de JolieVille"
    )
    assert "Voici l'attestation." in mail.outbox[0].body
    assert "Un document est joint à ce message" in mail.outbox[0].body
    # the family sees the message and its document, not the note
    client.force_login(guardian_of(family_a))
    page = page_text(client.get(commune_path(commune_a, f"demandes/{request.pk}/")))
    assert "Voici l'attestation." in page and "attestation.pdf" in page
    assert "Appeler l'école" not in page


def test_guardians_who_turned_request_emails_off_get_none(
    commune_a, family_a, agent_a, django_capture_on_commit_callbacks
):
    guardian_of(family_a).__class__.objects.filter(pk=guardian_of(family_a).pk).update(notify_requests=False)
    request = file_pickup(commune_a, family_a)
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        services.change_request_status(request_id=request.pk, actor=agent_a, status="rejected", message="Non")
    assert mail.outbox == []


def test_assignment_is_recorded_and_only_to_the_communes_staff(client, commune_a, family_a, agent_a, agent_b):
    request = file_pickup(commune_a, family_a)
    client.force_login(agent_a)
    # to another commune's agent: refused
    response = client.post(
        console(commune_a, f"{request.pk}/attribution/"), {"attribution-assignee": agent_b.pk}
    )
    assert response.status_code == 400
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.assignee is None
    # to themselves
    response = client.post(
        console(commune_a, f"{request.pk}/attribution/"), {"attribution-assignee": agent_a.pk}
    )
    assert response.status_code == 302
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.assignee == agent_a
        event = request.events.get(kind="assigned")
        assert (event.actor, event.assignee) == (agent_a, agent_a)
    assert "Attribuée à Camille Martin." in page_text(client.get(console(commune_a, f"{request.pk}/")))


def test_another_communes_agent_and_families_cannot_reach_the_console(
    client, commune_a, commune_b, family_a, agent_b
):
    request = file_pickup(commune_a, family_a)
    urls = [
        console(commune_a),
        console(commune_a, f"{request.pk}/"),
        console(commune_a, "categories/"),
    ]
    for account in (agent_b, guardian_of(family_a)):
        client.force_login(account)
        for url in urls:
            assert client.get(url).status_code == 404, url
        assert (
            client.post(
                console(commune_a, f"{request.pk}/statut/"), {"statut-status": "accepted"}
            ).status_code
            == 404
        )
    # agent B in their own console: commune A's request does not exist there
    client.force_login(agent_b)
    assert client.get(console(commune_b, f"{request.pk}/")).status_code == 404
    assert (
        client.post(console(commune_b, f"{request.pk}/statut/"), {"statut-status": "accepted"}).status_code
        == 404
    )
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "submitted"
    with commune_context(commune_b), pytest.raises(NotFound):
        services.change_request_status(request_id=request.pk, actor=agent_b, status="accepted")


# --- Categories ------------------------------------------------------------------------------------


def test_an_admin_creates_a_category_with_its_form(client, commune_a, defaults_a):
    admin = make_staff(commune_a, "maire@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        console(commune_a, "categories/nouvelle/"),
        {
            "title": "Inscription au centre de loisirs",
            "code": "",
            "description": "Pour l'été",
            "attachment_types": ["certificat_medical", "livret_famille"],
            "file_types": ["application/pdf"],
            "max_file_mb": "3",
            "max_files": "4",
            "position": "50",
            "is_active": "on",
            "champs-TOTAL_FORMS": "3",
            "champs-INITIAL_FORMS": "0",
            "champs-0-label": "Enfant",
            "champs-0-kind": "child",
            "champs-0-required": "on",
            "champs-1-label": "Semaines",
            "champs-1-kind": "choice",
            "champs-1-required": "on",
            "champs-1-choices": "Juillet\nAoût",
            "champs-2-label": "",
            "champs-2-kind": "text",
        },
    )
    assert response.status_code == 302, page_text(response)
    with commune_context(commune_a):
        created = RequestCategory.objects.get(code="inscription-au-centre-de-loisirs")
    assert (created.title, created.file_types, created.max_file_mb, created.max_files, created.is_system) == (
        "Inscription au centre de loisirs",
        ["application/pdf"],
        3,
        4,
        False,
    )
    assert created.attachment_types == ["certificat_medical", "livret_famille"]
    assert created.fields == [
        {"key": "child", "label": "Enfant", "kind": "child", "required": True, "choices": [], "help": ""},
        {
            "key": "semaines",
            "label": "Semaines",
            "kind": "choice",
            "required": True,
            "choices": ["Juillet", "Août"],
            "help": "",
        },
    ]


def test_a_choice_field_needs_two_choices_and_nothing_is_saved(client, commune_a, defaults_a):
    client.force_login(make_staff(commune_a, "maire@jolieville.test", role=StaffRole.Role.ADMIN))
    response = client.post(
        console(commune_a, "categories/nouvelle/"),
        {
            "title": "Sondage",
            "file_types": ["application/pdf"],
            "max_file_mb": "5",
            "max_files": "5",
            "position": "100",
            "champs-TOTAL_FORMS": "1",
            "champs-INITIAL_FORMS": "0",
            "champs-0-label": "Repas préféré",
            "champs-0-kind": "choice",
            "champs-0-choices": "Frites",
        },
    )
    assert response.status_code == 200
    assert "Champ « Repas préféré » : indiquez au moins deux choix, un par ligne." in page_text(response)
    with commune_context(commune_a):
        assert not RequestCategory.objects.filter(code="sondage").exists()


def test_the_system_category_keeps_its_code_form_and_documents(commune_a, defaults_a):
    admin = make_staff(commune_a, "maire@jolieville.test", role=StaffRole.Role.ADMIN)
    address = category(commune_a, "changement-adresse")
    with commune_context(commune_a):
        saved = services.save_category(
            category_id=address.pk,
            data=services.CategoryInput(
                title="Déménagement",
                code="autre-code",
                attachment_types=(),
                file_types=("application/pdf",),
                max_file_mb=2,
                max_files=2,
                fields=(services.FieldInput(label="Rien", kind="text"),),
            ),
            actor=admin,
        )
    assert (saved.code, saved.title, saved.attachment_types, saved.is_system) == (
        "changement-adresse",
        "Déménagement",
        ["justificatif_domicile"],
        True,
    )
    assert [f["key"] for f in saved.fields] == ["address_line", "postcode", "city", "moving_date"]


def test_categories_are_for_administrators(client, commune_a, agent_a, defaults_a):
    client.force_login(agent_a)
    assert client.get(console(commune_a, "categories/")).status_code == 403
    assert client.get(console(commune_a)).status_code == 200
    with commune_context(commune_a), pytest.raises(NotFound):
        services.save_category(category_id=None, data=services.CategoryInput(title="X"), actor=agent_a)
