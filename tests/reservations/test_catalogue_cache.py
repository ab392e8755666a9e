"""The family router's catalogue cache: each commune's catalogue (services, prestations, sites,
closures, school holidays) is cached under its Commune.catalogue_version, which every write to
the catalogue tables moves in the writing transaction. A stale or another commune's catalogue
is never served."""

import html

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from family.router import cached_catalogues
from reservations.models import Closure, PrestationSite, PriceBracket, SchoolHoliday, Service, Site
from shared_identity.models import Membership, StaffRole
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import MONDAY, enrol, family_in, make_catalogue
from tests.reservations.test_console_catalogue import CALENDAR, PRESTATIONS, prestation_data

WEEK = f"/reservations/?semaine={MONDAY.isoformat()}"


def _page(client) -> str:
    response = client.get(WEEK)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _version(commune) -> int:
    return Commune.objects.values_list("catalogue_version", flat=True).get(pk=commune.pk)


def _router_sql(client) -> str:
    with CaptureQueriesContext(connection) as captured:
        _page(client)
    (union,) = [q["sql"] for q in captured.captured_queries if "UNION ALL" in q["sql"]]
    return union


@pytest.fixture
def admin(commune_a):
    admin_client = Client()
    admin_client.force_login(make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN))
    return admin_client


@pytest.fixture
def family(client, commune_a):
    canteen = make_catalogue(commune_a, code="REPAS")
    membership = family_in(commune_a, "parent@example.fr")
    enrol(canteen, membership.family.children.get())
    client.force_login(membership.family.guardians.get().account)
    return canteen


def test_a_prestation_changed_in_the_console_shows_on_the_next_week_page(client, commune_a, admin, family):
    # given the family's week was shown, so its commune's catalogue is cached
    assert "Prestation REPAS" in _page(client)
    assert cached_catalogues([Commune.objects.get(pk=commune_a.pk)])
    # when the commune's admin renames the prestation in the console
    response = admin.post(
        commune_path(commune_a, f"{PRESTATIONS}{family.prestation.pk}/"),
        prestation_data(family.service, family.site, label="Repas du midi", code="REPAS"),
    )
    assert response.status_code == 302
    # then the next week page shows the new name, never the cached one
    page = _page(client)
    assert "Repas du midi" in page and "Prestation REPAS" not in page


def test_a_closure_added_in_the_console_closes_the_day_on_the_next_week_page(
    client, commune_a, admin, family
):
    # given the family's week was shown with Wednesday open
    assert "Grève des agents" not in _page(client)
    # when the admin closes every site on Wednesday
    response = admin.post(
        commune_path(commune_a, f"{CALENDAR}fermetures/"),
        {"fermeture-date": "2027-01-13", "fermeture-site": "", "fermeture-reason": "Grève des agents"},
    )
    assert response.status_code == 302
    # then the next week page says the day is closed, and why
    assert "Grève des agents" in _page(client)
    # when the admin deletes the closure
    with commune_context(commune_a):
        closure = Closure.objects.get()
    admin.post(commune_path(commune_a, f"{CALENDAR}fermetures/{closure.pk}/suppression/"))
    # then the day is open again on the next page
    assert "Grève des agents" not in _page(client)


def test_the_second_page_reads_no_catalogue_and_costs_the_same_queries(client, commune_a, family):
    # given a first week page (the catalogue read with the family's part, in the one statement)
    with CaptureQueriesContext(connection) as first:
        first_sql = _router_sql(client)
    assert "reservations_prestation" in first_sql
    # when the page is shown again
    with CaptureQueriesContext(connection) as second:
        second_sql = _router_sql(client)
    # then the catalogue came from the cache: the statement reads the family's rows only, and
    # the page costs the same number of queries
    assert "reservations_prestation " not in second_sql and "reservations_closure" not in second_sql
    assert "reservations_booking" in second_sql
    assert len(second.captured_queries) == len(first.captured_queries)
    # when the catalogue changes (a plain ORM write, outside any service)
    with commune_context(commune_a):
        Site.objects.filter(pk=family.site.pk).update(name="École des Tilleuls")
    # then the next page reads the catalogue again and shows the change
    assert "reservations_prestation" in _router_sql(client)
    assert "École des Tilleuls" in _page(client)


def test_another_communes_catalogue_is_never_served(client, commune_a, commune_b, family):
    # given the family's week with commune A only: A's catalogue is cached
    _page(client)
    # when the family joins commune B, whose catalogue has never been read
    canteen_b = make_catalogue(commune_b, code="MERJ")
    membership = Membership.objects.get(commune=commune_a)
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    enrol(canteen_b, membership.family.children.get())
    # then each commune shows its own catalogue, under its own name
    page = _page(client)
    assert "Prestation REPAS" in page and "Prestation MERJ" in page
    a, b = Commune.objects.get(pk=commune_a.pk), Commune.objects.get(pk=commune_b.pk)
    assert [p["code"] for p in cached_catalogues([a])["c_jolieville"]["prestations"]] == ["REPAS"]
    assert [p["code"] for p in cached_catalogues([b])["c_demo"]["prestations"]] == ["MERJ"]
    # and a write in B moves B's version only
    version_a, version_b = _version(a), _version(b)
    with commune_context(commune_b):
        Service.objects.update(name="Cantine de Démo")
    assert _version(a) == version_a and _version(b) != version_b


@pytest.mark.parametrize(
    "write",
    [
        lambda c: Service.objects.create(name="Accueil du soir"),
        lambda c: Site.objects.filter(pk=c.site.pk).update(name="École neuve"),
        lambda c: c.site.services.clear(),
        lambda c: type(c.prestation).objects.filter(pk=c.prestation.pk).update(label="Autre"),
        lambda c: PrestationSite.objects.filter(prestation=c.prestation).update(capacity=3),
        lambda c: PriceBracket.objects.create(prestation=c.prestation, qf_min=0, qf_max=10, price="1.00"),
        lambda c: Closure.objects.create(date=MONDAY, reason="Pont"),
        lambda c: SchoolHoliday.objects.create(name="Hiver", start=MONDAY, end=MONDAY),
        lambda c: PrestationSite.objects.filter(prestation=c.prestation).delete(),
    ],
    ids=[
        "service",
        "site",
        "site services",
        "prestation",
        "offer",
        "bracket",
        "closure",
        "holiday",
        "delete",
    ],
)
def test_every_write_to_a_catalogue_table_moves_the_version_in_its_transaction(commune_a, write):
    # given a commune with a catalogue
    canteen = make_catalogue(commune_a, code="REPAS")
    before = _version(commune_a)
    # when the catalogue is written, in a transaction
    with transaction.atomic(), commune_context(commune_a):
        write(canteen)
        # then the version has moved inside that same transaction
        inside = _version(commune_a)
    assert inside != before
    assert _version(commune_a) == inside


def test_a_version_seen_in_a_rolled_back_transaction_is_never_given_again(commune_a):
    # given a write to the catalogue that is rolled back
    canteen = make_catalogue(commune_a, code="REPAS")
    committed = _version(commune_a)
    with pytest.raises(RuntimeError), transaction.atomic(), commune_context(commune_a):
        Site.objects.filter(pk=canteen.site.pk).update(name="Jamais")
        rolled_back = _version(commune_a)
        raise RuntimeError
    assert _version(commune_a) == committed
    # when the catalogue is written again
    with commune_context(commune_a):
        Site.objects.filter(pk=canteen.site.pk).update(name="École Pasteur")
    # then its version is a new one: what was cached under the rolled-back one is never read
    assert _version(commune_a) not in {committed, rolled_back}


class _CacheDown:
    """Redis out of reach, as the cache client reports it."""

    def get_many(self, keys):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    set_many = get_many


def test_the_week_is_shown_from_the_database_when_the_cache_is_down(client, commune_a, family, monkeypatch):
    # given the cache is out of reach
    monkeypatch.setattr("family.router.cache", _CacheDown())
    # when the family opens its week
    sql = _router_sql(client)
    # then the week is read whole from the database, in the same one statement
    assert "reservations_prestation" in sql
    assert "Prestation REPAS" in _page(client)
