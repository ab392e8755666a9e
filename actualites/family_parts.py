"""What news (actualités) contribute to the family's unified views (assembled by
family.router): the SQL of one commune's visible items — ``{s}`` is the commune's quoted schema,
the first column its name — the page around their union, and how to read it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tenants.models import Commune

FEED_PAGE_SIZE = 20
EXCERPT_CHARS = 280

# One commune's visible items. Parameters after the schema name: account id, now, now.
NEWS_PART = """
SELECT %s::text AS schema_name, n.id, n.title, n.body, n.image <> '' AS has_image, n.image_alt,
       n.publish_at, n.pinned,
       NOT EXISTS (SELECT 1 FROM {s}.actualites_newsread r
                   WHERE r.item_id = n.id AND r.account_id = %s) AS unread
FROM {s}.actualites_newsitem n
WHERE n.publish_at <= %s AND (n.unpublish_at IS NULL OR n.unpublish_at > %s)
"""

# The page over the union of every commune's NEWS_PART ({parts}), with the totals of the whole
# feed computed before LIMIT (window functions). Parameters after the parts': limit, offset.
FEED = """
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


def feed_page(
    rows: list[tuple], *, communes: list[Commune], page: int, page_size: int, now: dt.datetime
) -> Feed:
    """The rows of FEED, read."""
    by_schema = {commune.schema_name: commune for commune in communes}
    items = [FeedItem(by_schema[row[0]], *row[1:9]) for row in rows]
    total, unread = (rows[0][9], rows[0][10]) if rows else (0, 0)
    return Feed(items=items, total=total, unread=unread, page=page, page_size=page_size, generated_at=now)
