"""Reads of the operator console (public schema, plus one round trip over commune schemas).

The communes list shows, for a page of communes, columns that live in each commune's schema
(its last invoicing run, its payment account). They are read for the whole page in ONE query,
a UNION ALL over the page's quoted schema names (the family router's pattern), never one
query per commune.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Membership
from tenants.models import Commune, Domain
from tenants.schemas import schemas_behind, union_over_schemas

PAGE_SIZE = 50

# The commune's billing tables exist (a schema behind on migrations, or a missing schema,
# must not break the list: it is where the operators look when something is wrong).
_BILLING_READY = RawSQL(
    "to_regclass(quote_ident(tenants_commune.schema_name) || '.billing_regie') IS NOT NULL "
    "AND to_regclass(quote_ident(tenants_commune.schema_name) || '.billing_invoicingrun') IS NOT NULL",
    [],
)

_SCHEMA_PRESENT = RawSQL(
    "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = tenants_commune.schema_name)", []
)

# One commune's part of the UNION ALL; {s} is its quoted schema. The payment account mode is
# the plain `mollie_mode` column billing stores with the encrypted key (nothing is decrypted),
# or PayFiP's mode (T is test; X and W take real payments).
_PART = """
SELECT %s::text AS schema_name,
  (SELECT json_build_object('mode', CASE WHEN r.payment_provider <> 'payfip' THEN r.mollie_mode
                                          WHEN r.payfip_saisie = 'T' THEN 'test' ELSE 'live' END,
                            'has_key', CASE WHEN r.payment_provider = 'payfip' THEN r.payfip_numcli <> ''
                                            ELSE r.mollie_key_encrypted <> '' END,
                            'provider', r.payment_provider,
                            'online', r.online_payment, 'regie_code', r.regie_code)
     FROM {s}.billing_regie r ORDER BY r.online_payment DESC, r.id LIMIT 1) AS regie,
  (SELECT json_build_object('period_start', ir.period_start, 'status', ir.status,
                            'created_at', ir.created_at, 'issued_at', ir.issued_at)
     FROM {s}.billing_invoicingrun ir ORDER BY ir.period_start DESC, ir.id DESC LIMIT 1) AS last_run
"""


@dataclass(frozen=True)
class LastRun:
    period_start: dt.date
    status: str
    created_at: dt.datetime
    issued_at: dt.datetime | None

    @property
    def is_issued(self) -> bool:
        return self.status == "issued"


@dataclass
class CommuneOverview:
    """One commune as the operators see it."""

    commune: Commune
    active_families: int = 0
    invited_families: int = 0
    # "ok", "behind" (migrations missing), "missing" (no schema)
    migration: str = "ok"
    # "test", "live", "missing" (no key), "unknown" (a key without a recorded mode),
    # "unreadable" (the commune schema has no billing tables)
    payment: str = "missing"
    provider: str = "mollie"  # or "payfip"
    online_payment: bool = False
    regie_code: str = ""
    last_run: LastRun | None = None
    domains: list[Domain] = field(default_factory=list)

    @property
    def migration_label(self) -> str:
        return {
            "ok": _("À jour"),
            "behind": _("Migrations en retard"),
            "missing": _("Schéma absent"),
        }[self.migration]

    @property
    def migration_level(self) -> str:
        return {"ok": "ok", "behind": "attention", "missing": "panne"}[self.migration]

    @property
    def payment_label(self) -> str:
        payfip = self.provider == "payfip"
        label = {
            "live": _("PayFiP production") if payfip else _("Mollie live"),
            "test": _("PayFiP test") if payfip else _("Mollie test"),
            "missing": _("Aucun compte"),
            "unknown": _("Clé enregistrée, mode inconnu"),
            "unreadable": _("Illisible"),
        }[self.payment]
        if self.payment in ("live", "test", "unknown") and not self.online_payment:
            label += " " + _("(paiement en ligne désactivé)")
        return label

    @property
    def payment_level(self) -> str:
        return {
            "live": "ok",
            "test": "attention",
            "missing": "",
            "unknown": "attention",
            "unreadable": "panne",
        }[self.payment]


def search_communes(*, search: str = "", status: str = "") -> QuerySet[Commune]:
    """Communes by name, slug, INSEE code (its first digits) or custom domain, and status."""
    communes = Commune.objects.all()
    search = search.strip()
    if search:
        communes = communes.filter(
            Q(name__icontains=search)
            | Q(slug__icontains=search.lower())
            | Q(insee_code__startswith=search.upper())
            | Exists(Domain.objects.filter(tenant=OuterRef("pk"), domain__icontains=search.lower()))
        )
    if status in Commune.Status.values:
        communes = communes.filter(status=status)
    primary = Domain.objects.filter(tenant=OuterRef("pk"), is_primary=True).values("domain")[:1]
    return communes.annotate(
        primary_domain=Subquery(primary), billing_ready=_BILLING_READY, schema_present=_SCHEMA_PRESENT
    ).order_by("name", "pk")


def list_commune_overviews(*, search: str = "", status: str = "", page: str | int | None = 1) -> Page:
    """One page of communes, each an overview. A fixed number of queries whatever the page
    size or the number of communes: count, page, families, migration state (2), schemas."""
    paginator = Paginator(search_communes(search=search, status=status), PAGE_SIZE)
    page_obj = paginator.get_page(page)
    page_obj.object_list = overviews_for(list(page_obj.object_list))
    return page_obj


def get_commune(*, commune_id: int) -> Commune:
    commune = Commune.objects.filter(pk=commune_id).first()
    if commune is None:
        raise NotFound(_("Cette commune n'existe pas."))
    return commune


def get_commune_overview(*, commune_id: int) -> CommuneOverview:
    commune = (
        Commune.objects.filter(pk=commune_id)
        .annotate(billing_ready=_BILLING_READY, schema_present=_SCHEMA_PRESENT)
        .first()
    )
    if commune is None:
        raise NotFound(_("Cette commune n'existe pas."))
    [overview] = overviews_for([commune])
    overview.domains = list(Domain.objects.filter(tenant=commune).order_by("-is_primary", "domain"))
    return overview


def overviews_for(communes: list[Commune]) -> list[CommuneOverview]:
    """Overviews of communes annotated with ``billing_ready`` and ``schema_present``: families
    in one aggregate query, migration state in one ``schemas_behind`` call (two queries), the
    commune-schema columns in one UNION ALL."""
    if not communes:
        return []
    overviews = [CommuneOverview(commune=commune) for commune in communes]
    by_id = {overview.commune.pk: overview for overview in overviews}
    counts = (
        Membership.objects.filter(commune_id__in=by_id)
        .values("commune_id")
        .annotate(
            active=Count("pk", filter=Q(status=Membership.Status.ACTIVE)),
            invited=Count("pk", filter=Q(status=Membership.Status.INVITED)),
        )
        .order_by()
    )
    for row in counts:
        by_id[row["commune_id"]].active_families = row["active"]
        by_id[row["commune_id"]].invited_families = row["invited"]

    behind = set(schemas_behind([commune.schema_name for commune in communes]))
    readable = []
    for overview in overviews:
        if not overview.commune.schema_present:
            overview.migration = "missing"
        elif overview.commune.schema_name in behind:
            overview.migration = "behind"
        if overview.commune.billing_ready:
            readable.append(overview)
        else:
            overview.payment = "unreadable"
    for overview, (regie, last_run) in zip(readable, _read_commune_schemas(readable), strict=True):
        _apply_regie(overview, regie)
        overview.last_run = _last_run(last_run)
    return overviews


def _read_commune_schemas(overviews: list[CommuneOverview]) -> list[tuple[dict | None, dict | None]]:
    """(régie, last run) of each commune, in its order, in one round trip."""
    if not overviews:
        return []
    names = [overview.commune.schema_name for overview in overviews]
    sql, params = union_over_schemas(_PART, names)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = {schema: (_json(regie), _json(run)) for schema, regie, run in cursor.fetchall()}
    return [rows.get(name, (None, None)) for name in names]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _apply_regie(overview: CommuneOverview, regie: dict | None) -> None:
    if not regie:
        return  # no régie saved yet: no payment account
    overview.online_payment = bool(regie["online"])
    overview.provider = regie.get("provider") or "mollie"
    overview.regie_code = regie["regie_code"] or ""
    if not regie["has_key"]:
        overview.payment = "missing"
    elif regie["mode"] in ("test", "live"):
        overview.payment = regie["mode"]
    else:
        overview.payment = "unknown"


def _last_run(data: dict | None) -> LastRun | None:
    if not data:
        return None
    return LastRun(
        period_start=dt.date.fromisoformat(data["period_start"][:10]),
        status=data["status"],
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        issued_at=dt.datetime.fromisoformat(data["issued_at"]) if data["issued_at"] else None,
    )
