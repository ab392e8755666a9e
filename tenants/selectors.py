"""Reads on communes (public schema)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Commune, Domain


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
