"""The console's news pages: states, the form and its refusals, images, withdrawing and
deleting, and isolation between communes."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actualites.images import MAX_IMAGE_BYTES
from actualites.models import NewsItem, NewsRead
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.actualites.conftest import JPEG, PNG, account_of, jpeg, news, png, stored_files
from tests.conftest import commune_path, make_family, make_staff

PARIS = ZoneInfo("Europe/Paris")


def _form(**fields) -> dict:
    data = {
        "title": "Grève du 12 mars",
        "body": "Le service de restauration ne sera pas assuré.\nMerci de prévoir un repas.",
        "publication": "now",
        "publish_at": "",
        "unpublish_at": "",
        "image_alt": "",
    }
    data.update(fields)
    return data


def _local(value: dt.datetime) -> str:
    return value.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def _items(commune) -> list[NewsItem]:
    with commune_context(commune):
        return list(NewsItem.objects.order_by("pk"))


def _page(response) -> str:
    return html.unescape(response.content.decode())


# --- List ------------------------------------------------------------------------------------------


def test_list_shows_each_state(client, commune_a, agent_a):
    # given one item in each state
    now = timezone.now()
    news(commune_a, "Brouillon de menu", publish_at=None)
    news(commune_a, "Sortie programmée", publish_at=now + dt.timedelta(days=2))
    news(commune_a, "Cantine fermée", pinned=True)
    news(
        commune_a,
        "Ancienne info",
        publish_at=now - dt.timedelta(days=9),
        unpublish_at=now - dt.timedelta(days=1),
    )
    client.force_login(agent_a)
    # when
    page = _page(client.get(commune_path(commune_a, "console/actualites/")))
    # then
    for title, state in [
        ("Brouillon de menu", "Brouillon"),
        ("Sortie programmée", "Programmée"),
        ("Cantine fermée", "Publiée"),
        ("Ancienne info", "Expirée"),
    ]:
        row = page.split(title, 1)[1].split("</tr>", 1)[0]
        assert f'">{state}</span>' in row, title
    assert "Épinglée" in page


def _queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in context.captured_queries if not q["sql"].startswith("SET search_path")]


def test_list_costs_the_same_queries_for_many_items(client, commune_a, agent_a):
    # given a few items, then many more
    client.force_login(agent_a)
    path = commune_path(commune_a, "console/actualites/")
    for index in range(2):
        news(commune_a, f"Info {index}", created_by=agent_a, updated_by=agent_a)
    few = _queries(client, path)
    for index in range(2, 30):
        news(commune_a, f"Info {index}", created_by=agent_a, updated_by=agent_a)
    many = _queries(client, path)
    # then: commune, session, account, staff role, count, items (with their authors)
    assert len(few) == len(many) == 6


# --- Publishing ------------------------------------------------------------------------------------


def test_an_agent_publishes_now_and_member_families_are_emailed(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given a member family
    make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    # when an agent publishes
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(commune_path(commune_a, "console/actualites/nouvelle/"), _form(pinned="on"))
    # then it is published, pinned, written by the agent, and the family is told once
    assert response.status_code == 302 and response["Location"] == commune_path(
        commune_a, "console/actualites/"
    )
    [item] = _items(commune_a)
    assert item.title == "Grève du 12 mars"
    assert item.body == "Le service de restauration ne sera pas assuré.\nMerci de prévoir un repas."
    assert item.pinned is True
    assert item.state == NewsItem.State.PUBLISHED
    assert item.created_by_id == item.updated_by_id == agent_a.pk
    assert item.emailed_at is not None
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    message = _page(client.get(commune_path(commune_a, "console/actualites/")))
    assert "« Grève du 12 mars » est publiée ; les familles sont prévenues par e-mail." in message


def test_a_scheduled_item_is_not_emailed_yet(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    # given a member family
    make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    at = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    # when an item is scheduled in three days
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, "console/actualites/nouvelle/"),
            _form(publication="at", publish_at=_local(at), unpublish_at=_local(at + dt.timedelta(days=7))),
        )
    # then it is scheduled at the time typed in the commune's time zone, and nobody is e-mailed
    assert response.status_code == 302
    [item] = _items(commune_a)
    assert item.publish_at == at and item.unpublish_at == at + dt.timedelta(days=7)
    assert item.state == NewsItem.State.SCHEDULED
    assert item.emailed_at is None and mail.outbox == []


def test_a_draft_stays_a_draft(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, "console/actualites/nouvelle/"), _form(publication="draft"))
    [item] = _items(commune_a)
    assert item.publish_at is None and item.state == NewsItem.State.DRAFT
    assert mail.outbox == []


def test_an_admin_may_publish_too(client, commune_a):
    admin = make_staff(commune_a, "maire@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    assert client.post(commune_path(commune_a, "console/actualites/nouvelle/"), _form()).status_code == 302
    assert len(_items(commune_a)) == 1


def test_the_form_refuses_in_french_and_keeps_what_was_typed(client, commune_a, agent_a):
    client.force_login(agent_a)
    now = timezone.now()
    cases = [
        (_form(title=""), "Indiquez un titre."),
        (_form(body=""), "Écrivez le texte de l'actualité."),
        (_form(title="x" * 201), "Le titre ne doit pas dépasser 200 caractères."),
        (_form(publication="at"), "Indiquez la date et l'heure de publication."),
        (
            _form(publication="at", publish_at="demain"),
            "Saisissez une date et une heure valides (jj/mm/aaaa hh:mm).",
        ),
        (
            _form(
                publication="at",
                publish_at=_local(now + dt.timedelta(days=2)),
                unpublish_at=_local(now + dt.timedelta(days=1)),
            ),
            "La fin de publication doit venir après la publication",
        ),
        (_form(unpublish_at=_local(now - dt.timedelta(days=1))), "La fin de publication doit venir après"),
        (
            _form(publication="draft", unpublish_at=_local(now + dt.timedelta(days=1))),
            "Une fin de publication demande une date de publication : un brouillon n'en a pas.",
        ),
    ]
    for data, message in cases:
        # when
        response = client.post(commune_path(commune_a, "console/actualites/nouvelle/"), data)
        # then
        page = _page(response)
        assert response.status_code == 400, message
        assert message in page, message
        assert data["title"][:50] in page
        assert "Rien n'a été enregistré : corrigez les champs signalés." in page
    assert _items(commune_a) == []


def test_an_end_already_past_is_refused(client, commune_a, agent_a):
    client.force_login(agent_a)
    now = timezone.now()
    response = client.post(
        commune_path(commune_a, "console/actualites/nouvelle/"),
        _form(
            publication="at",
            publish_at=_local(now - dt.timedelta(days=3)),
            unpublish_at=_local(now - dt.timedelta(days=1)),
        ),
    )
    assert response.status_code == 400
    assert "Cette date de fin de publication est déjà passée." in _page(response)
    assert _items(commune_a) == []


def test_the_database_refuses_an_end_before_the_start(commune_a):
    import pytest
    from django.db import IntegrityError, transaction

    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        news(commune_a, publish_at=now, unpublish_at=now - dt.timedelta(minutes=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        news(commune_a, publish_at=None, unpublish_at=now)


# --- Images ----------------------------------------------------------------------------------------


def test_an_image_is_stored_privately_under_the_commune_schema(client, commune_a, agent_a, attachments):
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/actualites/nouvelle/"),
        {**_form(image_alt="Affiche de la fête"), "image": png()},
    )
    # then
    assert response.status_code == 302
    [item] = _items(commune_a)
    assert item.image_type == "image/png" and item.image_alt == "Affiche de la fête"
    assert item.image.startswith(f"{commune_a.schema_name}/actualites/") and item.image.endswith(".png")
    assert "affiche" not in item.image  # the name typed by the user is not kept
    assert stored_files(attachments) == [item.image]
    assert (attachments / item.image).read_bytes() == PNG


def test_bad_images_are_refused_and_nothing_is_stored(client, commune_a, agent_a, attachments):
    client.force_login(agent_a)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_IMAGE_BYTES
    cases = [
        (
            SimpleUploadedFile("photo.png", b"<svg onload=alert(1)>", "image/png"),
            "n'est pas une image JPEG ou PNG",
        ),
        (SimpleUploadedFile("doc.jpg", b"%PDF-1.7 ...", "image/jpeg"), "n'est pas une image JPEG ou PNG"),
        (SimpleUploadedFile("vide.png", b"", "image/png"), "Le fichier soumis est vide."),
        (SimpleUploadedFile("grande.png", big, "image/png"), "L'image dépasse 2 Mo"),
    ]
    for upload, message in cases:
        # when
        response = client.post(
            commune_path(commune_a, "console/actualites/nouvelle/"), {**_form(), "image": upload}
        )
        # then
        page = _page(response)
        assert response.status_code == 400, message
        assert message in page, message
        assert "choisissez-la de nouveau" in page
    assert _items(commune_a) == []
    assert stored_files(attachments) == []


def test_a_new_image_replaces_the_old_one(
    client, commune_a, agent_a, attachments, django_capture_on_commit_callbacks
):
    client.force_login(agent_a)
    client.post(commune_path(commune_a, "console/actualites/nouvelle/"), {**_form(), "image": png()})
    [item] = _items(commune_a)
    old = item.image
    # when the image is replaced
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/"), {**_form(), "image": jpeg()}
        )
    # then only the new one is kept
    assert response.status_code == 302
    [item] = _items(commune_a)
    assert item.image_type == "image/jpeg" and item.image != old
    assert stored_files(attachments) == [item.image]
    # when it is removed
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/"), {**_form(), "remove_image": "on"}
        )
    [item] = _items(commune_a)
    assert item.image == "" and item.image_type == "" and stored_files(attachments) == []


def test_a_bad_new_image_changes_nothing(client, commune_a, agent_a, attachments):
    client.force_login(agent_a)
    client.post(commune_path(commune_a, "console/actualites/nouvelle/"), {**_form(), "image": png()})
    [before] = _items(commune_a)
    response = client.post(
        commune_path(commune_a, f"console/actualites/{before.pk}/"),
        {**_form(title="Nouveau titre"), "image": SimpleUploadedFile("x.png", b"GIF89a....")},
    )
    assert response.status_code == 400
    [after] = _items(commune_a)
    assert (after.title, after.image, after.updated_at) == (before.title, before.image, before.updated_at)
    assert stored_files(attachments) == [before.image]


# --- Editing, withdrawing, deleting ----------------------------------------------------------------


def test_editing_a_published_item_keeps_its_date_and_emails_nobody_again(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, "console/actualites/nouvelle/"), _form())
    [item] = _items(commune_a)
    # when it is saved again, unchanged but for its title
    form = client.get(commune_path(commune_a, f"console/actualites/{item.pk}/")).context["form"]
    data = {name: form[name].value() or "" for name in ("body", "publication", "publish_at", "unpublish_at")}
    data["publish_at"] = _local(item.publish_at)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/"),
            {**data, "title": "Grève (mise à jour)"},
        )
    # then
    assert response.status_code == 302
    [after] = _items(commune_a)
    assert after.title == "Grève (mise à jour)" and after.publish_at == item.publish_at
    assert len(mail.outbox) == 1


def test_withdraw_a_published_item(client, commune_a, agent_a):
    item = news(commune_a)
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"), {"action": "withdraw"}
    )
    assert response.status_code == 302
    [after] = _items(commune_a)
    assert after.state == NewsItem.State.EXPIRED and after.updated_by_id == agent_a.pk


def test_only_a_published_item_can_be_withdrawn(client, commune_a, agent_a):
    item = news(commune_a, publish_at=None)
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"), {"action": "withdraw"}
    )
    assert response.status_code == 409
    assert "Seule une actualité publiée peut être retirée : celle-ci est « brouillon »." in _page(response)
    [after] = _items(commune_a)
    assert after.unpublish_at is None


def test_delete_an_item_with_its_image_and_reads(
    client, commune_a, agent_a, attachments, django_capture_on_commit_callbacks
):
    client.force_login(agent_a)
    client.post(commune_path(commune_a, "console/actualites/nouvelle/"), {**_form(), "image": png()})
    [item] = _items(commune_a)
    with commune_context(commune_a):
        NewsRead.objects.create(item=item, account=agent_a)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"), {"action": "delete"}
        )
    # then
    assert response.status_code == 302
    assert _items(commune_a) == []
    with commune_context(commune_a):
        assert NewsRead.objects.count() == 0
    assert stored_files(attachments) == []


# --- Isolation -------------------------------------------------------------------------------------


def test_commune_b_staff_cannot_see_or_change_commune_a_items(
    client, commune_a, commune_b, agent_b, attachments
):
    # given an item of A with an image
    admin_a = make_staff(commune_a, "maire@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin_a)
    client.post(commune_path(commune_a, "console/actualites/nouvelle/"), {**_form(), "image": png()})
    [item] = _items(commune_a)
    client.force_login(agent_b)
    # when B's agent tries A's console, or its own console with A's item id
    for path in (
        commune_path(commune_a, "console/actualites/"),
        commune_path(commune_a, f"console/actualites/{item.pk}/"),
        commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"),
        commune_path(commune_a, f"actualites/{item.pk}/"),
        commune_path(commune_a, f"actualites/{item.pk}/image/"),
        commune_path(commune_b, f"console/actualites/{item.pk}/"),
        commune_path(commune_b, f"console/actualites/{item.pk}/retrait/"),
        commune_path(commune_b, f"actualites/{item.pk}/image/"),
    ):
        assert client.get(path).status_code == 404, path
    assert (
        client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/"), _form(title="Piraté")
        ).status_code
        == 404
    )
    assert (
        client.post(
            commune_path(commune_b, f"console/actualites/{item.pk}/"), _form(title="Piraté")
        ).status_code
        == 404
    )
    assert (
        client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"), {"action": "delete"}
        ).status_code
        == 404
    )
    # then nothing changed, and B's list does not show it
    assert "Grève du 12 mars" not in _page(client.get(commune_path(commune_b, "console/actualites/")))
    [after] = _items(commune_a)
    assert after.title == "Grève du 12 mars"
    assert _items(commune_b) == []
    assert len(stored_files(attachments)) == 1


def test_a_family_cannot_enter_the_console(client, commune_a):
    membership = make_family(commune_a, email="parent@example.fr")
    item = news(commune_a)
    client.force_login(account_of(membership))
    assert client.get(commune_path(commune_a, "console/actualites/")).status_code == 404
    assert client.post(commune_path(commune_a, "console/actualites/nouvelle/"), _form()).status_code == 404
    assert (
        client.post(
            commune_path(commune_a, f"console/actualites/{item.pk}/retrait/"), {"action": "delete"}
        ).status_code
        == 404
    )
    assert len(_items(commune_a)) == 1


def test_an_agent_previews_a_draft_that_families_cannot_see(client, commune_a, agent_a, attachments):
    client.force_login(agent_a)
    client.post(
        commune_path(commune_a, "console/actualites/nouvelle/"),
        {**_form(publication="draft"), "image": jpeg()},
    )
    [item] = _items(commune_a)
    page = _page(client.get(commune_path(commune_a, f"actualites/{item.pk}/")))
    assert "Aperçu réservé à l'équipe de la commune : cette actualité est « brouillon »." in page
    image = client.get(commune_path(commune_a, f"actualites/{item.pk}/image/"))
    assert image.status_code == 200 and b"".join(image.streaming_content) == JPEG
    # a member family does not see the draft
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(account_of(family))
    assert client.get(commune_path(commune_a, f"actualites/{item.pk}/")).status_code == 404
    assert client.get(commune_path(commune_a, f"actualites/{item.pk}/image/")).status_code == 404
