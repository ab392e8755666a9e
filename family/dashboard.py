"""What the family portal's dashboard shows an account: its communes, its children, the
communes where it is also staff, and the latest news of all its communes. The place for what
the family has to do next (invoices to pay, deadlines, requests awaiting a reply): it gathers
every app's part through the family router."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from actualites.family_parts import Feed
from shared_identity import selectors
from shared_identity.models import Account, Child, Membership, StaffRole

from . import router

DASHBOARD_NEWS = 3


@dataclass
class Dashboard:
    memberships: list[Membership]
    children: QuerySet[Child]
    staff_roles: QuerySet[StaffRole]
    news: Feed


def get_dashboard(account: Account) -> Dashboard:
    memberships = list(selectors.list_memberships_of(account))
    return Dashboard(
        memberships=memberships,
        children=selectors.list_children_of(account),
        staff_roles=selectors.list_staff_communes(account),
        # The latest news of every commune and the unread count: one query.
        news=router.family_news_feed(
            account=account, communes=router.family_communes(memberships), page_size=DASHBOARD_NEWS
        ),
    )
