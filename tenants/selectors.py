"""Reads on communes (public schema)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min, Q, QuerySet

from .models import Commune, Domain, OutboxMessage


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest_pending_at: dt.datetime | None
    failing: int  # pending messages whose last attempt failed
    last_error: str


def get_commune_by_slug(slug: str) -> Commune | None:
    return Commune.objects.filter(slug=slug).first()


def get_commune_for_host(host: str) -> Commune | None:
    domain = Domain.objects.select_related("tenant").filter(domain=host.lower()).first()
    return domain.tenant if domain else None


def list_communes(*, search: str = "") -> QuerySet[Commune]:
    communes = Commune.objects.all()
    if search:
        communes = communes.filter(
            Q(name__icontains=search) | Q(slug__icontains=search) | Q(insee_code=search)
        )
    return communes.order_by("name")


def list_commune_schema_names() -> list[str]:
    return list(Commune.objects.order_by("schema_name").values_list("schema_name", flat=True))


def get_outbox_backlog() -> OutboxBacklog:
    """What waits in the outbox (one query, on the pending rows' partial index), and the
    latest error of a message still waiting."""
    pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
    totals = pending.aggregate(
        pending=Count("id"), oldest=Min("created_at"), failing=Count("id", filter=~Q(last_error=""))
    )
    last_error = ""
    if totals["failing"]:
        last_error = pending.exclude(last_error="").order_by("-id").values_list("last_error", flat=True)[0]
    return OutboxBacklog(
        pending=totals["pending"],
        oldest_pending_at=totals["oldest"],
        failing=totals["failing"],
        last_error=last_error,
    )
