"""Writes on news: staff publish, edit, withdraw and delete items of their commune (in the
commune's schema); families mark items read; member families are e-mailed once when an
item becomes visible."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from shared_identity import notifications
from shared_identity.models import Account, Membership
from tenants.middleware import commune_urlconf
from tenants.models import Commune
from tenants.schemas import quote_ident
from tenants.tasks import enqueue_on_commit

from . import images
from .models import TITLE_MAX_LENGTH, NewsItem, NewsRead

logger = logging.getLogger(__name__)

EMAIL_EXCERPT_CHARS = 600


@dataclass(frozen=True)
class NewsInput:
    """What staff typed. ``publish_at`` None keeps the item as a draft."""

    title: str
    body: str
    publish_at: dt.datetime | None
    unpublish_at: dt.datetime | None = None
    pinned: bool = False
    image_alt: str = ""


def format_when(value: dt.datetime) -> str:
    return date_format(timezone.localtime(value), "j F Y à H\\hi")


def _check(
    *, data: NewsInput, image, now: dt.datetime, previous: NewsItem | None
) -> tuple[dict[str, list[str]], str]:
    """Every refusal at once (field → messages), and the sniffed type of the new image."""
    errors: dict[str, list[str]] = {}
    if not data.title.strip():
        errors["title"] = [_("Indiquez un titre.")]
    elif len(data.title.strip()) > TITLE_MAX_LENGTH:
        errors["title"] = [_("Le titre ne doit pas dépasser %(max)s caractères.") % {"max": TITLE_MAX_LENGTH}]
    if not data.body.strip():
        errors["body"] = [_("Écrivez le texte de l'actualité.")]
    if data.unpublish_at is not None:
        unchanged = previous is not None and previous.unpublish_at == data.unpublish_at
        if data.publish_at is None:
            errors["unpublish_at"] = [
                _("Une fin de publication demande une date de publication : un brouillon n'en a pas.")
            ]
        elif data.unpublish_at <= data.publish_at:
            errors["unpublish_at"] = [
                _("La fin de publication doit venir après la publication (%(start)s).")
                % {"start": format_when(data.publish_at)}
            ]
        elif data.unpublish_at <= now and not unchanged:
            errors["unpublish_at"] = [_("Cette date de fin de publication est déjà passée.")]
    content_type = ""
    if image is not None:
        try:
            content_type = images.validate_news_image(image)
        except FoyerError as error:
            errors["image"] = [error.message]
    return errors, content_type


def _refuse(errors: dict[str, list[str]]) -> None:
    if errors:
        raise FoyerError(
            "invalid",
            _("L'actualité n'a pas été enregistrée : corrigez les champs signalés."),
            extra={"fields": errors},
        )


def _notify_if_visible(item: NewsItem, now: dt.datetime) -> None:
    if item.emailed_at is None and item.is_visible_at(now):
        from .tasks import send_news_emails

        enqueue_on_commit(send_news_emails, schema_name=connection.schema_name, item_id=item.pk)


def _store_image(image, content_type: str) -> str:
    if image is None:
        return ""
    return images.save_news_image(schema_name=connection.schema_name, upload=image, content_type=content_type)


def create_news_item(
    *, actor: Account, data: NewsInput, image=None, now: dt.datetime | None = None
) -> NewsItem:
    """A new item (draft, scheduled or published at once). A published one e-mails the
    member families after commit."""
    now = now or timezone.now()
    errors, content_type = _check(data=data, image=image, now=now, previous=None)
    _refuse(errors)
    stored = _store_image(image, content_type)
    try:
        with transaction.atomic(durable=True):
            item = NewsItem.objects.create(
                title=data.title.strip(),
                body=data.body.strip(),
                image=stored,
                image_type=content_type if stored else "",
                image_alt=data.image_alt.strip() if stored else "",
                publish_at=data.publish_at,
                unpublish_at=data.unpublish_at,
                pinned=data.pinned,
                created_by=actor,
                updated_by=actor,
            )
            _notify_if_visible(item, now)
    except BaseException:
        images.delete_news_image(stored)
        raise
    return item


def update_news_item(
    *,
    actor: Account,
    item_id: int,
    data: NewsInput,
    image=None,
    remove_image: bool = False,
    now: dt.datetime | None = None,
) -> NewsItem:
    """Change an item. A new image replaces the old one (deleted after commit)."""
    now = now or timezone.now()
    previous = NewsItem.objects.filter(pk=item_id).first()
    if previous is None:
        raise NotFound(_("Cette actualité n'existe pas."))
    errors, content_type = _check(data=data, image=image, now=now, previous=previous)
    _refuse(errors)
    stored = _store_image(image, content_type)
    try:
        with transaction.atomic(durable=True):
            item = NewsItem.objects.select_for_update().filter(pk=item_id).first()
            if item is None:
                raise NotFound(_("Cette actualité n'existe pas."))
            old_image = item.image
            item.title = data.title.strip()
            item.body = data.body.strip()
            item.publish_at = data.publish_at
            item.unpublish_at = data.unpublish_at
            item.pinned = data.pinned
            item.updated_by = actor
            if stored:
                item.image, item.image_type = stored, content_type
            elif remove_image:
                item.image, item.image_type = "", ""
            item.image_alt = data.image_alt.strip() if item.image else ""
            item.save()
            if old_image and old_image != item.image:
                transaction.on_commit(lambda: images.delete_news_image(old_image))
            _notify_if_visible(item, now)
    except BaseException:
        images.delete_news_image(stored)
        raise
    return item


def withdraw_news_item(*, actor: Account, item_id: int, now: dt.datetime | None = None) -> NewsItem:
    """Stop showing a published item now (it becomes "expirée"; it can be published again)."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        item = NewsItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise NotFound(_("Cette actualité n'existe pas."))
        if not item.allows("withdraw", now):
            raise FoyerError(
                "not_published",
                _("Seule une actualité publiée peut être retirée : celle-ci est « %(state)s ».")
                % {"state": item.state_at(now).label.lower()},
                status=409,
            )
        # The window must stay valid (end after start) even if it was published this instant.
        item.unpublish_at = max(now, item.publish_at + dt.timedelta(microseconds=1))
        item.updated_by = actor
        item.save(update_fields=["unpublish_at", "updated_by", "updated_at"])
    return item


def delete_news_item(*, actor: Account, item_id: int) -> str:
    """Delete an item, who read it, and its image (after commit). Returns its title."""
    with transaction.atomic(durable=True):
        item = NewsItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise NotFound(_("Cette actualité n'existe pas."))
        image = item.image
        title = item.title
        item.delete()
        if image:
            transaction.on_commit(lambda: images.delete_news_image(image))
    logger.info("News item %s deleted by account %s", item_id, actor.pk)
    return title


# --- Reading ---------------------------------------------------------------------------------------


def mark_news_read(*, account: Account, item: NewsItem, now: dt.datetime | None = None) -> None:
    """The account has read the item (idempotent: the first reading is kept)."""
    NewsRead.objects.bulk_create(
        [NewsRead(item=item, account=account, read_at=now or timezone.now())], ignore_conflicts=True
    )


_MARK_PART = """
{name} AS (
  INSERT INTO {s}.actualites_newsread (item_id, account_id, read_at)
  SELECT n.id, %s, %s FROM {s}.actualites_newsitem n
  WHERE n.publish_at <= %s AND (n.unpublish_at IS NULL OR n.unpublish_at > %s)
  ON CONFLICT (item_id, account_id) DO NOTHING
  RETURNING 1
)"""


def mark_all_news_read(
    *,
    account: Account,
    communes: list[Commune],
    seen_until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int:
    """ "Tout marquer comme lu": every item visible to the account in all its communes, up to
    `seen_until` (when the feed was shown: a newer item stays unread), in one statement.
    Returns how many items were newly marked."""
    now = now or timezone.now()
    until = min(seen_until or now, now)
    schemas = sorted({commune.schema_name for commune in communes})
    if not schemas:
        return 0
    ctes, params = [], []
    for index, schema in enumerate(schemas):
        ctes.append(_MARK_PART.format(name=f"marked_{index}", s=quote_ident(schema)))
        params += [account.pk, now, until, now]
    total = " + ".join(f"(SELECT count(*) FROM marked_{index})" for index in range(len(schemas)))
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute("WITH " + ",".join(ctes) + f" SELECT {total}", params)
        return cursor.fetchone()[0]


# --- E-mails ---------------------------------------------------------------------------------------


def _excerpt(body: str, limit: int) -> str:
    if len(body) <= limit:
        return body
    return body[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.") + " […]"


def _member_family_ids(commune: Commune) -> list[int]:
    return list(
        Membership.objects.filter(commune=commune, status=Membership.Status.ACTIVE).values_list(
            "family_id", flat=True
        )
    )


def _news_context(item: NewsItem, commune: Commune) -> dict:
    path = reverse("commune_actualites:detail", args=[item.pk], urlconf=commune_urlconf(commune.slug))
    return {
        "commune": commune,
        "item": item,
        "excerpt": _excerpt(item.body, EMAIL_EXCERPT_CHARS),
        "url": settings.FOYER_BASE_URL + path,
        "preferences_url": settings.FOYER_BASE_URL + reverse("portal:account"),
    }


def send_news_emails(*, item_id: int | None = None, now: dt.datetime | None = None) -> int:
    """E-mail the member families about the visible items not e-mailed yet (one item, or all
    of them for the beat), each item once: the item is claimed (``emailed_at``) by a
    conditional update before anything is sent, so two runs never both send it. Only the
    guardians who kept news e-mails on receive them. Returns the number of e-mails sent."""
    commune = connection.tenant
    if not isinstance(commune, Commune) or not commune.is_active:
        # A suspended commune's families cannot read it: the beat sends once it is back.
        return 0
    now = now or timezone.now()
    due = NewsItem.objects.visible_at(now).filter(emailed_at__isnull=True)
    if item_id is not None:
        due = due.filter(pk=item_id)
    sent = 0
    recipients: dict[int, list[str]] | None = None
    for item in due.order_by("publish_at", "pk"):
        claimed = NewsItem.objects.filter(pk=item.pk, emailed_at__isnull=True).update(emailed_at=now)
        if not claimed:
            continue
        if recipients is None:
            recipients = notifications.recipients(_member_family_ids(commune), kind="news")
        sent += notifications.broadcast(
            "news_published", _news_context(item, commune), recipients=recipients.values()
        )
    return sent
