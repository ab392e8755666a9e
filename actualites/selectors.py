"""Reads on news in one commune: an item for a member family or the commune's staff, and the
staff's list. The families' feed of all their communes is read by the family router
(family.router, with actualites.family_parts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Account, Membership
from shared_identity.selectors import get_staff_role
from tenants.models import Commune

from .models import NewsItem

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
