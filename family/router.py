"""The family router: how a family sees all its communes.

A parent's account reaches one or more families, each with a file (membership) in one or more
communes; every commune keeps its data in its own PostgreSQL schema. The router reads a unified
view for the family in **one SQL round trip whatever the number of communes**:

1. ``get_family_scope`` says what the account reaches: its family ids, its children (shared
   identity) and its active communes, each once;
2. each commune app contributes the SQL of *one* commune's part of a view, in its
   ``family_parts`` module (``{s}`` stands for the commune's quoted schema, and the first column
   is the schema's name), with the code that reads a row of it;
3. the router repeats that part over the scope's communes with UNION ALL
   (``tenants.schemas.union_over_schemas``, which validates and quotes every schema name), runs
   it once, and hands each row back to the app with its commune.

| view | part | read by |
|---|---|---|
| the week ("Mes réservations") | reservations FAMILY_WEEK_PART, CATALOGUE_PART (cached per commune) | ``build_week``, ``read_family_reservations`` |
| the open carts | reservations CART_PART | ``list_family_carts`` |
| the carts awaiting payment | reservations HELD_PART | ``list_held_carts`` |
| cancellation requests ("Mes demandes") | reservations CANCELLATIONS_PART | ``list_family_cancellations`` |
| invoices ("Mes factures") | billing INVOICES_PART | ``list_family_invoices``, ``family_invoice_lists`` |
| receipts and credit notes ("Mes reçus et avoirs") | billing RECEIPTS_PART | ``list_family_documents`` |
| years of payment attestations ("Attestations") | billing ATTESTATION_YEARS_PART | ``list_family_attestation_years`` |
| requests ("Mes demandes") | demandes REQUESTS_PART, CATEGORIES_PART | ``list_family_requests``, ``list_family_categories`` |
| news ("Actualités") | actualites NEWS_PART inside FEED | ``family_news_feed`` |

Never a loop of ``SET search_path`` per commune in a request: one statement reads them all.
(Payment plans, family.payment_plans, read each unfinished step's payment in its commune: a
few steps, only on the payment pages and "Mes factures" while a plan is open.)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from actualites import family_parts as news
from billing import family_parts as invoices
from billing.models import Invoice
from demandes import family_parts as requests
from foyer.errors import NotFound
from reservations import family_parts as reservations
from reservations.opening import week_start
from reservations.selectors import Week, assemble_week
from shared_identity.models import Account, Child, Family, Membership
from shared_identity.selectors import list_memberships_of
from tenants.models import Commune
from tenants.schemas import union_over_schemas

logger = logging.getLogger(__name__)

# --- What an account reaches ------------------------------------------------------------------------


@dataclass
class FamilyScope:
    """What an account reaches as a guardian: families, children, communes."""

    family_ids: list[int]
    children: list[Child]
    communes: list[Commune]

    def family_of_child(self, child_id: int) -> int | None:
        return next((child.family_id for child in self.children if child.pk == child_id), None)

    @property
    def open_communes(self) -> list[Commune]:
        """The communes where the family can act (book, file a request): not suspended."""
        return [commune for commune in self.communes if commune.is_active]

    @property
    def suspended_communes(self) -> list[Commune]:
        """Suspended communes stay in the family's views, read-only, with the operator's reason."""
        return [commune for commune in self.communes if not commune.is_active]


def get_family_scope(account: Account) -> FamilyScope:
    memberships = list(list_memberships_of(account))
    children = list(
        Child.objects.filter(family__guardians__account=account)
        .select_related("family")  # the actions on a child act for its family: no second read
        .distinct()
        .order_by("birth_date")
    )
    return scope_of(memberships, children)


def scope_of(memberships: list[Membership], children: list[Child]) -> FamilyScope:
    """The scope from an account's active memberships and children, already read."""
    return FamilyScope(
        family_ids=sorted(
            {membership.family_id for membership in memberships} | {c.family_id for c in children}
        ),
        children=children,
        communes=family_communes(memberships),
    )


def get_family_scope_in(account: Account, commune: Commune) -> FamilyScope:
    """The account's family scope, for an action in a commune it belongs to (else not found)."""
    scope = get_family_scope(account)
    if commune not in scope.communes:
        raise NotFound()
    return scope


def family_id_in(scope: FamilyScope, commune: Commune) -> int:
    """The account's family that holds a file in this commune (else not found)."""
    family_id = (
        Membership.objects.filter(commune=commune, family_id__in=scope.family_ids)
        .order_by("family_id")
        .values_list("family_id", flat=True)
        .first()
    )
    if family_id is None:
        raise NotFound()
    return family_id


def get_family_communes(account: Account) -> FamilyScope:
    """The account's families and communes, without its children: what validating the carts
    needs (one query, where ``get_family_scope`` makes two)."""
    memberships = list(list_memberships_of(account))
    return FamilyScope(
        family_ids=sorted({membership.family_id for membership in memberships}),
        children=[],
        communes=family_communes(memberships),
    )


def get_family_child_in(account: Account, commune: Commune, child_id: int) -> Child:
    """A child of the account's families, for an action in a commune where the child's family
    is an active member, with its family; else not found (absent, not the account's, or not a
    family of this commune). One query, where the whole scope takes two."""
    child = (
        Child.objects.filter(
            pk=child_id,
            family__guardians__account=account,
            family__memberships__commune=commune,
            family__memberships__status=Membership.Status.ACTIVE,
        )
        .select_related("family")
        .first()
    )
    if child is None:
        raise NotFound()
    return child


def family_communes(memberships: Iterable[Membership]) -> list[Commune]:
    """The communes of an account's memberships, each once (even when two of its families
    belong to the same commune). A suspended commune is kept: its families still see their
    bookings and invoices there, read-only (see FamilyScope.open_communes)."""
    communes: dict[str, Commune] = {}
    for membership in memberships:
        communes.setdefault(membership.commune.schema_name, membership.commune)
    return list(communes.values())


def list_family_communes(account: Account) -> list[Commune]:
    """The communes whose news the account reads (a suspended commune's pages are closed)."""
    return [commune for commune in family_communes(list_memberships_of(account)) if commune.is_active]


# --- The one round trip -----------------------------------------------------------------------------


def _union(part: str, communes: list[Commune], *params) -> tuple[str, list]:
    return union_over_schemas(part, [commune.schema_name for commune in communes], *params)


def _read(part: str, communes: list[Commune], *params, order_by: str = "") -> list[tuple[Commune, tuple]]:
    """Every commune's rows of ``part``, in one statement: (commune, the row after its schema)."""
    if not communes:
        return []
    sql, values = _union(part, communes, *params)
    with connection.cursor() as cursor:
        cursor.execute(sql + order_by, values)
        rows = cursor.fetchall()
    by_schema = {commune.schema_name: commune for commune in communes}
    return [(by_schema[row[0]], row[1:]) for row in rows]


# --- Reservations -----------------------------------------------------------------------------------


def read_family_reservations(
    *, communes: list[Commune], family_ids: list[int], child_ids: list[int], start: dt.date, end: dt.date
) -> list[reservations.CommuneData]:
    """Everything the week view needs, for every commune given, in one query: the family's
    part of each commune, and the catalogue part of the communes whose catalogue is not in the
    cache (read from Redis in one round trip, stored back after the query)."""
    if not child_ids or not communes:
        return []
    catalogues = cached_catalogues(communes)
    missing = [commune for commune in communes if commune.schema_name not in catalogues]
    params = reservations.week_params(child_ids=child_ids, family_ids=family_ids, start=start, end=end)
    sql, values = _union(reservations.FAMILY_WEEK_PART, communes, *params)
    if missing:
        catalogue_sql, catalogue_values = _union(reservations.CATALOGUE_PART, missing)
        sql, values = f"{sql} UNION ALL {catalogue_sql}", [*values, *catalogue_values]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchall()
    rows: dict[str, list[tuple[str, object]]] = {commune.schema_name: [] for commune in communes}
    catalogue_rows: dict[str, list[tuple[str, object]]] = {commune.schema_name: [] for commune in missing}
    for schema_name, kind, payload in found:
        if kind in reservations.CATALOGUE_KINDS:
            catalogue_rows[schema_name].append((kind, payload))
        else:
            rows[schema_name].append((kind, payload))
    fresh = {name: reservations.catalogue_of(found_rows) for name, found_rows in catalogue_rows.items()}
    if fresh:
        _cache_catalogues({_catalogue_key(c): fresh[c.schema_name] for c in missing})
    catalogues.update(fresh)
    data = [
        reservations.commune_data(
            commune, catalogues[commune.schema_name], rows[commune.schema_name], start=start, end=end
        )
        for commune in communes
    ]
    data.sort(key=lambda item: item.commune.name)
    return data


# A commune's catalogue stays in the cache for a day after it was read, under its version: any
# write to the catalogue tables moves the version (Commune.catalogue_version), so a changed
# catalogue is read again at once; an entry of a former version is never read and expires.
CATALOGUE_CACHE_SECONDS = 24 * 3600


def _catalogue_key(commune: Commune) -> str:
    """Keyed by schema, commune (id and creation time) and catalogue version, and the cached
    shape: another commune's, an older version's, a former commune's of the same schema or a
    former database's catalogue has another key. (A database restored from a backup hands out
    versions again: clear the cache after a restore.)"""
    return (
        f"family-router:catalogue:{reservations.CATALOGUE_FORMAT}:{commune.schema_name}:"
        f"{commune.pk}:{commune.created_at.timestamp():.6f}:{commune.catalogue_version}"
    )


def cached_catalogues(communes: list[Commune]) -> dict[str, dict]:
    """The cached catalogues of ``communes`` (by schema name), in one cache round trip. A
    commune whose row was read before this request's catalogue write would carry an older
    version: every caller reads its communes afresh (memberships, scope), never from memory."""
    keys = {_catalogue_key(commune): commune.schema_name for commune in communes}
    try:
        found = cache.get_many(list(keys))
    except Exception:  # the cache is down: the catalogues are read with the rest, as on a miss
        logger.warning("catalogue cache unavailable: catalogues read from the database", exc_info=True)
        return {}
    return {keys[key]: catalogue for key, catalogue in found.items()}


def _cache_catalogues(catalogues: dict[str, dict]) -> None:
    try:
        cache.set_many(catalogues, timeout=CATALOGUE_CACHE_SECONDS)
    except Exception:  # the page does not depend on the cache
        logger.warning("catalogue cache unavailable: catalogues not stored", exc_info=True)


def build_week(
    *,
    scope: FamilyScope,
    day: dt.date,
    commune_slug: str = "",
    child_ids: list[int] | None = None,
    service: str = "",
    site: str = "",
    now: dt.datetime | None = None,
) -> Week:
    """The family's week, all communes together (or one), for the children chosen, for one
    service or site if asked."""
    start = week_start(day)
    communes = [c for c in scope.communes if not commune_slug or c.slug == commune_slug]
    children = [c for c in scope.children if not child_ids or c.pk in child_ids]
    data = read_family_reservations(
        communes=communes,
        family_ids=scope.family_ids,
        child_ids=[c.pk for c in children],
        start=start,
        end=start + dt.timedelta(days=6),
    )
    return assemble_week(
        data=data, children=children, start=start, service=service, site=site, now=now or timezone.now()
    )


def build_weeks(
    *,
    scope: FamilyScope,
    start: dt.date,
    end: dt.date,
    communes: list[Commune] | None = None,
    now: dt.datetime | None = None,
) -> list[Week]:
    """Every week from the one of ``start`` to the one of ``end``, all children, from ONE read
    (the period page's weeks, the dashboard's this week and next)."""
    first, last = week_start(start), week_start(end)
    data = read_family_reservations(
        communes=scope.communes if communes is None else communes,
        family_ids=scope.family_ids,
        child_ids=[child.pk for child in scope.children],
        start=first,
        end=last + dt.timedelta(days=6),
    )
    now = now or timezone.now()
    mondays = [first + dt.timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    return [assemble_week(data=data, children=scope.children, start=monday, now=now) for monday in mondays]


def list_family_carts(
    *, scope: FamilyScope, now: dt.datetime | None = None
) -> list[reservations.CommuneCart]:
    """The open carts of every commune of the family, priced, in one query."""
    now = now or timezone.now()
    children = {child.pk: child for child in scope.children}
    carts = [
        reservations.commune_cart(commune, items, children=children, now=now)
        for commune, (items,) in _read(reservations.CART_PART, scope.open_communes, scope.family_ids)
    ]
    carts = [cart for cart in carts if cart.lines]
    carts.sort(key=lambda cart: cart.commune.name)
    return carts


def list_held_carts(*, scope: FamilyScope) -> list[reservations.HeldCart]:
    """The validated prepaid carts of every commune still awaiting payment, soonest to expire
    first, in one query."""
    rows = _read(reservations.HELD_PART, scope.communes, scope.family_ids)
    carts = [reservations.HeldCart(commune, *row) for commune, row in rows]
    carts.sort(key=lambda cart: (cart.expires_at is None, cart.expires_at, cart.commune.name))
    return carts


def list_family_cancellations(*, scope: FamilyScope) -> list[reservations.FamilyCancellation]:
    """Every cancellation request of the family in every commune, newest first, in one query."""
    children = {child.pk: child for child in scope.children}
    rows = _read(
        reservations.CANCELLATIONS_PART, scope.communes, scope.family_ids, order_by=" ORDER BY 7 DESC, 2 DESC"
    )
    found = [reservations.FamilyCancellation(commune, *row) for commune, row in rows]
    for item in found:
        item.child = children.get(item.child_id)
    return found


# --- Invoices ---------------------------------------------------------------------------------------


def list_family_invoices(*, scope: FamilyScope) -> list[invoices.FamilyInvoice]:
    """Every issued invoice of the family in every commune, in one query."""
    rows = _read(invoices.INVOICES_PART, scope.communes, scope.family_ids, order_by=" ORDER BY 8, 2")
    return [invoices.FamilyInvoice(commune, *row) for commune, row in rows]


def list_family_documents(*, scope: FamilyScope) -> list[invoices.InvoiceGroup]:
    """Every receipt and credit note of the family in every commune, in one query, under
    "Commune – Régie" headings, newest first within each."""
    rows = _read(
        invoices.RECEIPTS_PART,
        scope.communes,
        scope.family_ids,
        scope.family_ids,
        order_by=" ORDER BY 5 DESC",
    )
    documents = [invoices.FamilyDocument(commune, *row) for commune, row in rows]
    documents.sort(key=lambda d: (d.commune.name, d.regie_name, d.regie_id))
    return invoices.grouped(documents)


def list_family_attestation_years(*, scope: FamilyScope) -> list[invoices.AttestationYears]:
    """The years each of the family's communes can attest payments for, in one query."""
    if not scope.family_ids:
        return []
    ids = list(scope.family_ids)
    rows = _read(invoices.ATTESTATION_YEARS_PART, scope.communes, ids, ids, ids)
    names = dict(Family.objects.filter(pk__in=ids).values_list("pk", "name")) if len(ids) > 1 else {}
    return invoices.attestation_years(rows, names)


def list_family_direct_debits(*, scope: FamilyScope) -> list[invoices.FamilyDirectDebit]:
    """The régies of the family's communes that offer direct debit, with its mandates: one query."""
    rows = _read(invoices.DIRECT_DEBIT_PART, scope.communes, scope.family_ids, order_by=" ORDER BY 1, 2")
    found = [invoices.FamilyDirectDebit(commune, *row) for commune, row in rows]
    found.sort(key=lambda d: (d.commune.name, d.regie_name, d.regie_id))
    return found


def family_invoice_lists(*, scope: FamilyScope, commune_slug: str = "") -> invoices.InvoiceLists:
    return invoices.invoice_lists(list_family_invoices(scope=scope), commune_slug=commune_slug)


@dataclass
class OpenInvoice:
    commune: Commune
    reference: str
    amount_due: object
    due_date: dt.date


def list_open_invoices_of(account: Account) -> list[OpenInvoice]:
    """The invoices issued and not fully paid of the account's families, in every commune where
    they have (or had) a file, whatever its status: one query."""
    memberships = Membership.objects.filter(family__guardians__account=account).select_related("commune")
    family_ids = sorted({m.family_id for m in memberships})
    communes = list({m.commune_id: m.commune for m in memberships}.values())
    found = list_family_invoices(scope=FamilyScope(family_ids=family_ids, children=[], communes=communes))
    return [
        OpenInvoice(commune=i.commune, reference=i.reference, amount_due=i.amount_due, due_date=i.due_date)
        for i in found
        if i.status == Invoice.Status.ISSUED and i.amount_due > 0
    ]


# --- Requests ---------------------------------------------------------------------------------------


def list_family_requests(*, family_ids: list[int], communes: list[Commune]) -> list[requests.FamilyRequest]:
    """Every request of the family in every commune given, newest activity first, with the
    commune's messages: one query."""
    if not family_ids:
        return []
    rows = _read(
        requests.REQUESTS_PART, communes, list(family_ids), order_by=" ORDER BY 8 DESC, 7 DESC, 2 DESC"
    )
    return [requests.family_request(commune, row) for commune, row in rows]


def list_family_categories(*, communes: list[Commune]) -> list[requests.CommuneCategories]:
    """The categories each commune offers in "Faire une demande", in one query."""
    grouped: dict[str, list[dict]] = {commune.schema_name: [] for commune in communes}
    for commune, (code, title, description) in _read(requests.CATEGORIES_PART, communes):
        grouped[commune.schema_name].append({"code": code, "title": title, "description": description})
    result = [
        requests.CommuneCategories(c, sorted(grouped[c.schema_name], key=lambda x: x["title"]))
        for c in communes
    ]
    result.sort(key=lambda item: item.commune.name)
    return result


# --- News -------------------------------------------------------------------------------------------


def family_news_feed(
    *,
    account: Account,
    communes: list[Commune],
    page: int = 1,
    page_size: int = news.FEED_PAGE_SIZE,
    now: dt.datetime | None = None,
) -> news.Feed:
    """The published items of the account's communes, pinned first then newest, with the
    account's unread markers and the feed's totals: one query whatever the number of
    communes (none without a commune)."""
    now = now or timezone.now()
    page = max(1, page)
    rows: list[tuple] = []
    if communes:
        parts, params = _union(news.NEWS_PART, communes, account.pk, now, now)
        with connection.cursor() as cursor:
            cursor.execute(news.FEED.format(parts=parts), [*params, page_size, (page - 1) * page_size])
            rows = cursor.fetchall()
    return news.feed_page(rows, communes=communes, page=page, page_size=page_size, now=now)
