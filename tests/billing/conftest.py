from __future__ import annotations

import pytest

from billing.fake_mollie import FakeMollie


@pytest.fixture
def fake_mollie():
    """A fake Mollie on 127.0.0.1 (free port), fresh for each test; webhook retries are quick.
    ``Client(api_endpoint=fake_mollie.base_url)`` or ``fake_mollie.new_client(TEST_KEY)``."""
    with FakeMollie("127.0.0.1", 0, webhook_retry_delays=(0.05, 0.1, 0.2)) as fake:
        yield fake


@pytest.fixture
def mollie(fake_mollie, settings):
    """The fake Mollie, with Foyer's settings pointing at it."""
    settings.MOLLIE_API_ENDPOINT = fake_mollie.base_url
    return fake_mollie
