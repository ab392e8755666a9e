"""News e-mails: sent once per item, when it becomes visible (at once, or by beat for a
scheduled item), only to the member families' guardians who kept news e-mails on."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import mail
from django.utils import timezone

from actualites import services, tasks
from actualites.models import NewsItem
from actualites.services import NewsInput
from shared_identity.models import Account, Guardian
from tenants.context import commune_context
from tenants.models import Commune
from tests.actualites.conftest import news
from tests.conftest import make_account, make_family


def _publish(commune, actor, **fields) -> NewsItem:
    data = {
        "title": "Fermeture exceptionnelle",
        "body": "L'accueil de loisirs sera fermé le 3 mai.\nMerci de votre compréhension.",
        "publish_at": timezone.now(),
    }
    data.update(fields)
    with commune_context(commune):
        return services.create_news_item(actor=actor, data=NewsInput(**data))


def _beat(commune, now: dt.datetime) -> int:
    return tasks.send_news_emails.apply(
        kwargs={"schema_name": commune.schema_name, "now": now.isoformat()}
    ).get()


def _families(commune_a, commune_b):
    """Who is who: two guardians in one family (one turned news off), a family whose only
    guardian turned news off, a family whose guardian has no account yet, an invited family,
    and a family of the other commune."""
    both = make_family(commune_a, email="parent@example.fr")
    quiet = make_account("conjoint@example.fr", notify_news=False)
    Guardian.objects.create(
        family=both.family, account=quiet, first_name="Sam", last_name="Martin", email=quiet.email
    )
    make_family(commune_a, email="silence@example.fr", name="Durand", dossier="F2")
    Guardian.objects.filter(email="silence@example.fr").update(account=None)
    make_family(commune_a, email="pas-de-news@example.fr", name="Petit", dossier="F3")
    Account.objects.filter(email="pas-de-news@example.fr").update(notify_news=False)
    make_family(commune_a, email="invitee@example.fr", name="Invitée", dossier="F4", active=False)
    make_family(commune_b, email="ailleurs@example.fr", name="Ailleurs", dossier="B1")


def test_published_now_emails_each_member_family_once(
    commune_a, commune_b, agent_a, django_capture_on_commit_callbacks
):
    # given
    _families(commune_a, commune_b)
    # when an item is published
    with django_capture_on_commit_callbacks(execute=True):
        item = _publish(commune_a, agent_a)
    # then only the guardians who kept news on, of member families, get it
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    message = mail.outbox[0]
    assert message.subject == "Commune de JolieVille : Fermeture exceptionnelle"
    assert "La commune de JolieVille a publié une actualité :" in message.body
    assert "L'accueil de loisirs sera fermé le 3 mai.\nMerci de votre compréhension." in message.body
    assert f"Lire l'actualité : {settings.FOYER_BASE_URL}/c/jolieville/actualites/{item.pk}/" in message.body
    assert f"{settings.FOYER_BASE_URL}/compte/" in message.body
    assert "&#x27;" not in message.body
    # and never again
    assert _beat(commune_a, timezone.now() + dt.timedelta(hours=1)) == 0
    assert len(mail.outbox) == 1
    with commune_context(commune_a):
        assert NewsItem.objects.get().emailed_at is not None


def test_a_scheduled_item_is_emailed_by_beat_once_visible(
    commune_a, commune_b, agent_a, django_capture_on_commit_callbacks
):
    # given an item scheduled in two hours
    _families(commune_a, commune_b)
    at = timezone.now() + dt.timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        _publish(commune_a, agent_a, publish_at=at)
    assert mail.outbox == []
    # when beat runs before its time, nothing; after it, the e-mail; then never again
    assert _beat(commune_a, at - dt.timedelta(minutes=1)) == 0
    assert _beat(commune_a, at + dt.timedelta(minutes=3)) == 1
    assert _beat(commune_a, at + dt.timedelta(minutes=8)) == 0
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    with commune_context(commune_a):
        assert NewsItem.objects.get().emailed_at == at + dt.timedelta(minutes=3)


def test_beat_skips_drafts_and_items_expired_before_it_ran(commune_a, agent_a):
    make_family(commune_a, email="parent@example.fr")
    now = timezone.now()
    news(commune_a, "Brouillon", publish_at=None)
    news(
        commune_a,
        "Trop tard",
        publish_at=now - dt.timedelta(hours=2),
        unpublish_at=now - dt.timedelta(hours=1),
    )
    assert _beat(commune_a, now) == 0
    assert mail.outbox == []


def test_one_email_per_item_and_family(commune_a, agent_a):
    make_family(commune_a, email="parent@example.fr")
    make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F2")
    news(commune_a, "Une")
    news(commune_a, "Deux")
    assert _beat(commune_a, timezone.now()) == 4
    assert sorted((m.subject, m.to[0]) for m in mail.outbox) == [
        ("Commune de JolieVille : Deux", "autre@example.fr"),
        ("Commune de JolieVille : Deux", "parent@example.fr"),
        ("Commune de JolieVille : Une", "autre@example.fr"),
        ("Commune de JolieVille : Une", "parent@example.fr"),
    ]


def test_editing_or_republishing_does_not_email_again(commune_a, agent_a, django_capture_on_commit_callbacks):
    make_family(commune_a, email="parent@example.fr")
    with django_capture_on_commit_callbacks(execute=True):
        item = _publish(commune_a, agent_a)
    with django_capture_on_commit_callbacks(execute=True), commune_context(commune_a):
        services.withdraw_news_item(actor=agent_a, item_id=item.pk)
    with django_capture_on_commit_callbacks(execute=True), commune_context(commune_a):
        services.update_news_item(
            actor=agent_a,
            item_id=item.pk,
            data=NewsInput(title="Fermeture (bis)", body="Toujours fermé.", publish_at=timezone.now()),
        )
    assert len(mail.outbox) == 1


def test_a_suspended_commune_waits(commune_a, agent_a):
    make_family(commune_a, email="parent@example.fr")
    news(commune_a, "Pendant la suspension")
    Commune.objects.filter(pk=commune_a.pk).update(status=Commune.Status.SUSPENDED)
    assert _beat(commune_a, timezone.now()) == 0
    Commune.objects.filter(pk=commune_a.pk).update(status=Commune.Status.ACTIVE)
    assert _beat(commune_a, timezone.now()) == 1


def test_beat_sends_in_every_commune(commune_a, commune_b):
    make_family(commune_a, email="parent@example.fr")
    make_family(commune_b, email="autre@example.fr", name="Durand")
    news(commune_a, "À JolieVille")
    news(commune_b, "À Démo")
    # when beat's fan-out runs
    tasks.send_news_emails_everywhere.apply().get()
    # then each commune e-mails its own families about its own item
    assert sorted((m.to[0], m.subject) for m in mail.outbox) == [
        ("autre@example.fr", "Collectivité Démo : À Démo"),
        ("parent@example.fr", "Commune de JolieVille : À JolieVille"),
    ]


def test_the_beat_schedule_runs_the_news_emails():
    entry = settings.CELERY_BEAT_SCHEDULE["news-emails"]
    assert entry == {"task": "actualites.tasks.send_news_emails_everywhere", "schedule": 300.0}
