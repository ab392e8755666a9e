"""Reads on news. Families: one feed of every commune they belong to, read in ONE SQL round
trip (a UNION ALL over the communes' schemas, like the reservations router), and one item
of a commune they belong to. Staff: their commune's items."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Account, Membership
from shared_identity.selectors import get_staff_role, list_memberships_of
from tenants.models import Commune
from tenants.schemas import union_over_schemas

from .models import NewsItem

FEED_PAGE_SIZE = 20
EXCERPT_CHARS = 280

# One commune's visible items; {s} is the quoted schema. Parameters: schema name, account id,
# now, now.
_PART = """
SELECT %s::text AS schema_name, n.id, n.title, n.body, n.image <> '' AS has_image, n.image_alt,
       n.publish_at, n.pinned,
       NOT EXISTS (SELECT 1 FROM {s}.actualites_newsread r
                   WHERE r.item_id = n.id AND r.account_id = %s) AS unread
FROM {s}.actualites_newsitem n
WHERE n.publish_at <= %s AND (n.unpublish_at IS NULL OR n.unpublish_at > %s)
"""

# The page, with the totals of the whole feed computed before LIMIT (window functions).
_FEED = """
SELECT f.*, count(*) OVER () AS total, count(*) FILTER (WHERE f.unread) OVER () AS unread_total
FROM ({parts}) AS f
ORDER BY f.pinned DESC, f.publish_at DESC, f.schema_name, f.id DESC
LIMIT %s OFFSET %s
"""


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """The beginning of a text, cut on a word."""
    body = " ".join(body.split())
    if len(body) <= limit:
        return body
    return body[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.") + " …"


@dataclass
class FeedItem:
    commune: Commune
    id: int
    title: str
    body: str
    has_image: bool
    image_alt: str
    publish_at: dt.datetime
    pinned: bool
    unread: bool

    @property
    def excerpt(self) -> str:
        return excerpt(self.body)


@dataclass
class Feed:
    items: list[FeedItem]
    total: int
    unread: int
    page: int
    page_size: int
    generated_at: dt.datetime

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def family_communes(memberships) -> list[Commune]:
    """The active communes of an account's memberships, each once."""
    communes: dict[str, Commune] = {}
    for membership in memberships:
        if membership.commune.is_active:
            communes.setdefault(membership.commune.schema_name, membership.commune)
    return list(communes.values())


def list_family_communes(account: Account) -> list[Commune]:
    return family_communes(list_memberships_of(account))


def family_news_feed(
    *,
    account: Account,
    communes: list[Commune],
    page: int = 1,
    page_size: int = FEED_PAGE_SIZE,
    now: dt.datetime | None = None,
) -> Feed:
    """The published items of the account's communes, pinned first then newest, with the
    account's unread markers and the feed's totals: one query whatever the number of
    communes (none without a commune)."""
    now = now or timezone.now()
    page = max(1, page)
    if not communes:
        return Feed(items=[], total=0, unread=0, page=page, page_size=page_size, generated_at=now)
    parts, params = union_over_schemas(_PART, [c.schema_name for c in communes], account.pk, now, now)
    params += [page_size, (page - 1) * page_size]
    with connection.cursor() as cursor:
        cursor.execute(_FEED.format(parts=parts), params)
        rows = cursor.fetchall()
    by_schema = {commune.schema_name: commune for commune in communes}
    items = [FeedItem(by_schema[row[0]], *row[1:9]) for row in rows]
    total, unread = (rows[0][9], rows[0][10]) if rows else (0, 0)
    return Feed(items=items, total=total, unread=unread, page=page, page_size=page_size, generated_at=now)


# --- In one commune (its schema selected) ----------------------------------------------------------


def is_member_family(account: Account, commune: Commune) -> bool:
    """Whether the account is a guardian of a family with an active membership here."""
    if not account.is_authenticated:
        return False
    return Membership.objects.filter(
        commune=commune, status=Membership.Status.ACTIVE, family__guardians__account=account
    ).exists()


@dataclass
class ItemAccess:
    item: NewsItem
    as_family: bool
    as_staff: bool


def get_news_item_for_viewer(
    *,
    account: Account,
    commune: Commune,
    item_id: int,
    allow_staff: bool = True,
    now: dt.datetime | None = None,
) -> ItemAccess:
    """An item of this commune for a member family (only while published) or, if allowed,
    for the commune's staff (whatever its state, to preview it). Everyone else: not found."""
    now = now or timezone.now()
    item = NewsItem.objects.filter(pk=item_id).first()
    if item is not None and account.is_authenticated:
        as_family = item.is_visible_at(now) and is_member_family(account, commune)
        as_staff = not as_family and allow_staff and get_staff_role(account, commune) is not None
        if as_family or as_staff:
            return ItemAccess(item=item, as_family=as_family, as_staff=as_staff)
    raise NotFound(_("Cette actualité n'existe pas ou n'est pas accessible."))


def list_news_items() -> QuerySet[NewsItem]:
    """The commune's items for its staff: drafts, then newest publication first."""
    return NewsItem.objects.select_related("created_by", "updated_by").order_by(
        F("publish_at").desc(nulls_first=True), "-pk"
    )


def get_news_item(*, item_id: int) -> NewsItem:
    item = NewsItem.objects.select_related("created_by", "updated_by").filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("Cette actualité n'existe pas."))
    return item
