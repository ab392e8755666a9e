"""Several régies per commune: each bills its own services with its own number series; a run
of one never touches another's numbers or invoices; the console manages them."""

from __future__ import annotations

import datetime as dt
import html
import threading
from decimal import Decimal

import pytest
from django.db import connections

from billing import services
from billing.models import Invoice, InvoiceCounter, InvoicingRun, Regie, default_regie_id
from foyer.errors import FoyerError
from reservations.models import Booking, Service
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import family_in, make_catalogue

JANUARY = dt.date(2027, 1, 1)
ISSUED_AT = dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _two_regies(commune):
    """The canteen in the first régie (CA), the périscolaire in a second one (A4)."""
    canteen = make_catalogue(commune, code="REPAS")
    peri = make_catalogue(commune, code="PERI", price="2.50")
    with commune_context(commune):
        Regie.objects.filter(pk=default_regie_id()).update(name="Restauration scolaire", regie_code="CA")
        a4 = Regie.objects.create(
            name="Service périscolaire", regie_code="A4", reference_format="{annee}-{regie}-{numero:03}"
        )
        Service.objects.filter(pk=peri.service.pk).update(regie=a4)
    return canteen, peri, a4


def _book(catalogue, family, day):
    Booking.objects.create(
        child=family.children.get(),
        family=family,
        prestation=catalogue.prestation,
        site=catalogue.site,
        date=day,
        status="confirmed",
        price=catalogue.prestation.base_price,
    )


def test_each_regie_invoices_its_own_services_with_its_own_numbers(commune_a):
    canteen, peri, a4 = _two_regies(commune_a)
    family = family_in(commune_a, "parent@example.fr").family
    with commune_context(commune_a):
        for day in (4, 5):
            _book(canteen, family, JANUARY.replace(day=day))
        _book(peri, family, JANUARY.replace(day=4))
        first = services.prepare_invoicing_run(month=JANUARY)
        second = services.prepare_invoicing_run(month=JANUARY, regie_id=a4.pk)
        services.issue_invoicing_run(run_id=first.pk, now=ISSUED_AT)
        # a run of the canteen's régie touched nothing of the périscolaire's
        assert second.invoices.get().status == "draft"
        assert not InvoiceCounter.objects.filter(regie=a4).exists()
        services.issue_invoicing_run(run_id=second.pk, now=ISSUED_AT)
        canteen_invoice = first.invoices.get()
        peri_invoice = second.invoices.get()
        assert (canteen_invoice.reference, canteen_invoice.total) == ("2027-CA-00-1", Decimal("8.10"))
        assert (peri_invoice.reference, peri_invoice.total) == ("2027-A4-001", Decimal("2.50"))
        assert peri_invoice.due_date == ISSUED_AT.date() + dt.timedelta(days=a4.due_days)
        # each line says which days it bills
        assert canteen_invoice.lines.get().dates == [dt.date(2027, 1, 4), dt.date(2027, 1, 5)]


def test_concurrent_runs_of_two_regies_keep_each_series_gapless(committed_db):
    commune = Commune.objects.get(slug="jolieville")
    canteen, peri, a4 = _two_regies(commune)
    families = [
        family_in(commune, f"p{i}@example.fr", name=f"F{i}", dossier=f"F{i:05d}").family for i in range(5)
    ]
    with commune_context(commune):
        for family in families:
            for month in (1, 2):
                _book(canteen, family, dt.date(2027, month, 4))
                _book(peri, family, dt.date(2027, month, 4))
        runs = [
            services.prepare_invoicing_run(month=dt.date(2027, month, 1), regie_id=regie_id)
            for month in (1, 2)
            for regie_id in (default_regie_id(), a4.pk)
        ]
    barrier = threading.Barrier(len(runs))
    errors = []

    def issue(run_id):
        try:
            with commune_context(commune):
                barrier.wait()
                services.issue_invoicing_run(run_id=run_id, now=ISSUED_AT)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(run.pk,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with commune_context(commune):
        for regie in Regie.objects.all():
            numbers = sorted(Invoice.objects.filter(regie=regie).values_list("number", flat=True))
            assert numbers == list(range(1, 11)), regie.regie_code
        assert InvoicingRun.objects.filter(status="issued").count() == 4


def test_an_imported_regie_has_no_invoicing_run(commune_a):
    with commune_context(commune_a):
        imported = Regie.objects.create(name="Accueil de loisirs", regie_code="AL", source="imported")
        with pytest.raises(FoyerError) as error:
            services.prepare_invoicing_run(month=JANUARY, regie_id=imported.pk)
    assert "importe ses factures" in error.value.message


def test_the_monthly_task_prepares_each_regie_on_its_own_day(commune_a):
    from billing.tasks import prepare_monthly_invoicing

    canteen, peri, a4 = _two_regies(commune_a)
    family = family_in(commune_a, "parent@example.fr").family
    with commune_context(commune_a):
        _book(canteen, family, JANUARY.replace(day=4))
        _book(peri, family, JANUARY.replace(day=4))
        Regie.objects.filter(pk=default_regie_id()).update(invoicing_day=2)
        Regie.objects.filter(pk=a4.pk).update(invoicing_day=5)
    kwargs = {"schema_name": commune_a.schema_name}
    (canteen_run,) = prepare_monthly_invoicing.apply(kwargs={**kwargs, "today": "2027-02-02"}).get()
    (peri_run,) = prepare_monthly_invoicing.apply(kwargs={**kwargs, "today": "2027-02-05"}).get()
    with commune_context(commune_a):
        assert InvoicingRun.objects.get(pk=canteen_run).regie_id == default_regie_id()
        assert InvoicingRun.objects.get(pk=peri_run).regie_id == a4.pk


# --- Console ---------------------------------------------------------------------------------------


def _regie_data(**changes) -> dict:
    data = {
        "name": "Service périscolaire",
        "regie_code": "a4",
        "source": "foyer",
        "due_days": "30",
        "invoicing_day": "3",
    }
    return {**data, **changes}


def test_an_admin_adds_a_regie_and_attaches_a_service_to_it(client, commune_a):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    peri = make_catalogue(commune_a, code="PERI")
    client.force_login(admin)
    response = client.post(commune_path(commune_a, "console/facturation/regies/nouvelle/"), _regie_data())
    assert response.status_code == 302
    with commune_context(commune_a):
        a4 = Regie.objects.get(regie_code="A4")
    response = client.post(
        commune_path(commune_a, f"console/catalogue/services/{peri.service.pk}/"),
        {"name": peri.service.name, "late_cancellation": "agent", "is_active": "on", "regie": a4.pk},
    )
    assert response.status_code == 302
    page = page_text(client.get(commune_path(commune_a, "console/facturation/regies/")))
    assert "Service périscolaire" in page and "Service PERI" in page
    with commune_context(commune_a):
        assert Service.objects.get(pk=peri.service.pk).regie_id == a4.pk


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"regie_code": "rg"}, "Une autre régie de la commune a déjà ce code."),
        ({"name": ""}, "Ce champ est obligatoire."),
        ({"regie_code": "A-4"}, "1 à 4 majuscules ou chiffres."),
    ],
)
def test_a_refused_regie_is_not_created(client, commune_a, changes, message):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        commune_path(commune_a, "console/facturation/regies/nouvelle/"), _regie_data(**changes)
    )
    assert response.status_code == 200
    assert message in page_text(response)
    with commune_context(commune_a):
        assert Regie.objects.count() == 1


def test_agents_cannot_manage_regies(client, commune_a):
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    assert client.get(commune_path(commune_a, "console/facturation/regies/")).status_code == 403
    assert (
        client.post(
            commune_path(commune_a, "console/facturation/regies/nouvelle/"), _regie_data()
        ).status_code
        == 403
    )
    with commune_context(commune_a):
        assert Regie.objects.count() == 1
