"""A fake PayFiP (DGFiP) server for tests and the demo (no Django needed).

    with FakePayfip() as fake:
        fake.add_client(DEMO_NUMCLI, "Régie – Collectivité Démo")
        settings.PAYFIP_ENDPOINT = fake.base_url

``python -m billing.fake_payfip --port 8766 --client 000123=NAME`` runs it in the foreground."""

from .server import DEMO_NUMCLI, OTHER_NUMCLI, FakePayfip, parse_call, soap_answer, soap_fault
from .state import RESULTS, SoapFault

__all__ = [
    "DEMO_NUMCLI",
    "OTHER_NUMCLI",
    "RESULTS",
    "FakePayfip",
    "SoapFault",
    "parse_call",
    "soap_answer",
    "soap_fault",
]
