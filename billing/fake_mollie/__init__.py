"""A fake Mollie API server for tests and the demo (no Django needed).

    with FakeMollie() as fake:
        client = Client(api_endpoint=fake.base_url)  # or fake.new_client(TEST_KEY)

``python -m billing.fake_mollie --port 8765`` runs it in the foreground."""

from .server import LIVE_KEY, OTHER_TEST_KEY, TEST_KEY, FakeMollie, parse_form
from .state import PAYMENT_STATUSES, REFUND_STATUSES, WEBHOOK_STATUSES, ApiError

__all__ = [
    "LIVE_KEY",
    "OTHER_TEST_KEY",
    "PAYMENT_STATUSES",
    "REFUND_STATUSES",
    "TEST_KEY",
    "WEBHOOK_STATUSES",
    "ApiError",
    "FakeMollie",
    "parse_form",
]
