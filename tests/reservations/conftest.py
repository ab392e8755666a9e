"""A small catalogue in a commune: one service, one site, one prestation open Monday to
Friday, and a child of a family enrolled for the school year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reservations.deadlines import DeadlineRule
from reservations.models import Enrolment, Prestation, PrestationSite, Service, Site
from shared_identity.models import Child, Membership
from tenants.context import commune_context
from tests.conftest import make_family

PARIS = ZoneInfo("Europe/Paris")
# A Monday in term time, far from public holidays.
MONDAY = dt.date(2027, 1, 11)


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=PARIS)


@dataclass
class Catalogue:
    commune: object
    service: Service
    site: Site
    prestation: Prestation


def make_catalogue(
    commune,
    *,
    code: str = "REPAS",
    billing_mode: str = Prestation.BillingMode.MONTH_END,
    capacity: int | None = None,
    booking_rule: DeadlineRule | None = None,
    cancellation_rule: DeadlineRule | None = None,
    late_price: str | None = None,
    price: str = "4.05",
) -> Catalogue:
    with commune_context(commune):
        service = Service.objects.create(name=f"Service {code}")
        site = Site.objects.create(name=f"École {code}")
        site.services.add(service)
        prestation = Prestation.objects.create(
            service=service,
            label=f"Prestation {code}",
            code=code,
            billing_mode=billing_mode,
            weekdays=[0, 1, 2, 3, 4],
            period=Prestation.Period.ALL,
            base_price=Decimal(price),
            booking_rule=(booking_rule or DeadlineRule.days_before(2, at=dt.time(10, 0))).to_dict(),
            cancellation_rule=(cancellation_rule or DeadlineRule.days_before(1, at=dt.time(18, 0))).to_dict(),
            late_price=Decimal(late_price) if late_price else None,
            start_time=dt.time(12, 0),
        )
        PrestationSite.objects.create(prestation=prestation, site=site, capacity=capacity)
    return Catalogue(commune, service, site, prestation)


def enrol(catalogue: Catalogue, child: Child) -> None:
    with commune_context(catalogue.commune):
        Enrolment.objects.create(
            child=child,
            family_id=child.family_id,
            service=catalogue.service,
            site=catalogue.site,
            start=dt.date(2026, 9, 1),
            end=dt.date(2027, 7, 4),
        )


def family_in(commune, email: str, name: str = "Martin", dossier: str = "F00001") -> Membership:
    return make_family(commune, email=email, name=name, dossier=dossier)


@pytest.fixture
def monday_evening(monkeypatch):
    """The evening of MONDAY: its attendance can be pointed (a day to come cannot)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: at(MONDAY, 19))


@pytest.fixture
def canteen_a(commune_a) -> Catalogue:
    return make_catalogue(commune_a)


@pytest.fixture
def family_a(commune_a, canteen_a) -> Membership:
    membership = family_in(commune_a, "parent@example.fr")
    enrol(canteen_a, membership.family.children.get())
    return membership
