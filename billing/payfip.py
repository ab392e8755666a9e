"""PayFiP, DGFiP's free payment service for public bodies, behind the provider interface of
billing.gateway, through Entr'ouvert's eopayment (its ``payfip_ws`` backend).

The protocol, as eopayment speaks it: a SOAP call ``creerPaiementSecurise`` (the régie's
client number ``numcli``, the mode ``saisie`` T/X/W, the year, the amount in cents, the
family's e-mail, a reference ``refdet``, the notification and return URLs) gives an ``idOp``;
the family pays on ``…/tpa/paiementws.web?idop=…``; PayFiP then posts ``idOp=…`` to the
notification URL and sends the family back. Neither is proof: the payment is always read
again with ``recupererDetailPaiementSecurise`` (result P/V paid, R/Z refused, A cancelled;
error P5 "not paid yet", P1 "unknown"), which gives its amount, reference and mode to check
against the attempt. PayFiP has no idempotency key (a retry after a lost answer makes a
second ``idOp`` that nobody is sent to) and no refunds.

``settings.PAYFIP_ENDPOINT`` is PayFiP's own address (eopayment's bundled WSDL is used) or,
in the demo and the tests, the fake server's (billing.fake_payfip), whose WSDL names itself."""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal

import eopayment
from django.conf import settings
from eopayment import payfip_ws

from .gateway import ProviderPayment, ProviderRefused, ProviderUnavailable

PAYFIP_ORIGIN = "https://www.payfip.gouv.fr"
CHECKOUT_PATH = "/tpa/paiementws.web"
WSDL_PATH = "/tpa/services/securite?wsdl"
# refdet: letters and digits only, at most 30; it names the attempt ("F" id "K" key).
REFDET = re.compile(r"^F(\d{1,12})K[0-9a-f]+$")
# eopayment's results, in the words of billing.models.PaymentAttempt.Status.
STATUSES = {
    eopayment.PAID: "paid",
    eopayment.DENIED: "failed",
    eopayment.CANCELLED: "canceled",
    eopayment.EXPIRED: "expired",
    eopayment.WAITING: "open",
}
# eopayment's own codes for a failure to reach PayFiP; any other is PayFiP's answer.
UNREACHABLE = {
    "HTTP error",
    "SOAP error",
    "Unexpected error",
    "unknown",
    "Cound not initialize the SOAP client",
}


def mode_of(saisie: str) -> str:
    """T is PayFiP's test mode; X (activation) and W (production) take real money."""
    return "test" if saisie == "T" else "live"


def refdet_for(*, attempt_id: int, idempotency_key: str) -> str:
    return f"F{attempt_id}K{idempotency_key}"[:30]


def _endpoint() -> str:
    return settings.PAYFIP_ENDPOINT.rstrip("/")


@functools.cache
def _soap_client(endpoint: str) -> payfip_ws.PayFiP:
    """One SOAP client per endpoint and process (zeep reads the WSDL once)."""
    if endpoint == PAYFIP_ORIGIN:
        return payfip_ws.PayFiP()  # eopayment's copy of PayFiP's WSDL
    return payfip_ws.PayFiP(wsdl_url=endpoint + WSDL_PATH)


class PayfipGateway:
    refunds = False
    minimal_amount = Decimal("1.00")  # PayFiP's own minimum

    def __init__(self, *, numcli: str, saisie: str):
        self.numcli = numcli
        self.saisie = saisie

    def _backend(self, *, redirect_url: str = "", webhook_url: str = "") -> eopayment.Payment:
        payment = eopayment.Payment(
            eopayment.PAYFIP_WS,
            {
                "numcli": self.numcli,
                "saisie": self.saisie,
                "normal_return_url": redirect_url,
                "automatic_return_url": webhook_url,
            },
        )
        payment.backend.payfip = _soap_client(_endpoint())
        return payment

    @staticmethod
    def _call(func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except payfip_ws.PayFiPError as exc:
            if exc.code in UNREACHABLE:
                raise ProviderUnavailable(f"{exc.code}: {exc.message}") from exc
            raise ProviderRefused(f"{exc.code}: {exc.message}") from exc
        except ValueError as exc:  # eopayment refused what it was given (e-mail, amount)
            raise ProviderRefused(str(exc)) from exc

    def create_payment(
        self,
        *,
        amount: Decimal,
        description: str,
        redirect_url: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
        payer_email: str = "",
    ) -> ProviderPayment:
        idop, _kind, url = self._call(
            self._backend(redirect_url=redirect_url, webhook_url=webhook_url).request,
            f"{amount:.2f}",
            email=payer_email,
            refdet=refdet_for(attempt_id=metadata["attempt"], idempotency_key=idempotency_key),
            subject=description,
        )
        if _endpoint() != PAYFIP_ORIGIN:
            url = _endpoint() + CHECKOUT_PATH + "?idop=" + idop
        return ProviderPayment(
            id=idop,
            status="open",
            amount=amount,
            mode=mode_of(self.saisie),
            checkout_url=url,
            metadata=metadata,
        )

    def get_payment(self, payment_id: str, *, created_at: dt.datetime | None = None) -> ProviderPayment:
        """PayFiP's word on one ``idOp`` (eopayment reads "not paid yet" as waiting until two
        hours after ``created_at``, then as expired; a cancellation less than two minutes old
        as waiting, since the family may still pay)."""
        response = self._call(self._backend().payment_status, payment_id, transaction_date=created_at)
        data = response.bank_data or {}
        if not data.get("montant"):
            # PayFiP says "not paid (yet)" or "unknown": no detail to check, nothing paid.
            return ProviderPayment(
                id=payment_id,
                status=STATUSES.get(response.result, "pending"),
                amount=None,
                mode="",
                amount_refunded=None,
            )
        metadata = {}
        found = REFDET.match(data.get("refdet") or "")
        if found and data.get("numcli") == self.numcli:
            metadata = {"attempt": int(found.group(1))}
        return ProviderPayment(
            id=data.get("idOp") or payment_id,
            # An unknown result code stays "pending": reconciliation asks again, nothing is applied.
            status=STATUSES.get(response.result, "pending"),
            amount=(Decimal(data["montant"]) / 100).quantize(Decimal("0.01")),
            mode=mode_of(data.get("saisie") or ""),
            metadata=metadata,
            amount_refunded=None,
        )

    def refund(self, *, payment_id: str, amount: Decimal, description: str, idempotency_key: str) -> str:
        raise ProviderRefused("PayFiP makes no refunds: the régie refunds outside Foyer.")

    def check_client(self) -> str:
        """The name PayFiP knows the régie's client number by; ProviderRefused if it does not."""
        client = _soap_client(_endpoint())
        answer = self._call(client.get_info_client, self.numcli)
        return " ".join(part for part in (answer.libelleN1, answer.libelleN2, answer.libelleN3) if part)
