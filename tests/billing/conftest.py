from __future__ import annotations

import datetime as dt

import pytest

from billing import services
from billing.fake_mollie import LIVE_KEY, OTHER_TEST_KEY, TEST_KEY, FakeMollie
from billing.fake_payfip import DEMO_NUMCLI, OTHER_NUMCLI, FakePayfip
from billing.models import Invoice, default_regie_id
from reservations.models import Booking
from tenants.context import commune_context

# The Mollie accounts the tests use, by API key. The fake refuses any key it was not given
# (401, as Mollie does): a test that needs another key adds its account itself.
ACCOUNTS = {
    TEST_KEY: "Régie cantine – JolieVille",
    OTHER_TEST_KEY: "Régie périscolaire – Collectivité Démo",
    LIVE_KEY: "Régie cantine – JolieVille (production)",
}


@pytest.fixture
def fake_mollie():
    """A fake Mollie on 127.0.0.1 (free port), fresh for each test, that knows the accounts of
    TEST_KEY, OTHER_TEST_KEY and LIVE_KEY; webhook retries are quick.
    ``Client(api_endpoint=fake_mollie.base_url)`` or ``fake_mollie.new_client(TEST_KEY)``."""
    with FakeMollie("127.0.0.1", 0, webhook_retry_delays=(0.05, 0.1, 0.2)) as fake:
        for key, name in ACCOUNTS.items():
            fake.add_account(key, name)
        yield fake


@pytest.fixture
def mollie(fake_mollie, settings):
    """The fake Mollie, with Foyer's settings pointing at it."""
    settings.MOLLIE_API_ENDPOINT = fake_mollie.base_url
    return fake_mollie


def issue_january(catalogue, family) -> Invoice:
    """One meal on 4 January 2027 booked for the family's child, invoiced and issued by the
    régie of the catalogue's service."""
    with commune_context(catalogue.commune):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=catalogue.prestation,
            site=catalogue.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=catalogue.prestation.base_price,
        )
        run = services.prepare_invoicing_run(
            month=dt.date(2027, 1, 1), regie_id=catalogue.service.regie_id or default_regie_id()
        )
        services.issue_invoicing_run(run_id=run.pk)
        return run.invoices.get()


@pytest.fixture
def fake_payfip():
    """A fake PayFiP on 127.0.0.1 (free port), fresh for each test, that knows DEMO_NUMCLI
    and OTHER_NUMCLI; notification retries are quick."""
    with FakePayfip("127.0.0.1", 0, notification_retry_delays=(0.05, 0.1)) as fake:
        fake.add_client(DEMO_NUMCLI, "Régie – Collectivité Démo")
        fake.add_client(OTHER_NUMCLI, "Régie – JolieVille")
        yield fake


@pytest.fixture
def payfip(fake_payfip, settings):
    """The fake PayFiP, with Foyer's settings pointing at it."""
    settings.PAYFIP_ENDPOINT = fake_payfip.base_url
    return fake_payfip
