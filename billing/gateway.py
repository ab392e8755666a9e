"""The régie's payment provider behind one small interface (:class:`PaymentProvider`); it
exchanges dataclasses, never models. Each régie chooses its own: Mollie (its merchant account
and API key, here) or PayFiP, DGFiP's service for public bodies (its client number:
billing.payfip). :func:`gateway_for` gives the one a régie uses; the payment services
(billing.payments) never know which one they talk to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from mollie.api.client import Client
from mollie.api.error import Error as MollieError
from mollie.api.error import NotFoundError, RequestError, ResponseError


class ProviderUnavailable(Exception):
    """The provider did not answer (network, timeout, 5xx): safe to try again later."""


class ProviderRefused(Exception):
    """The provider answered no (bad key, unknown payment, invalid request)."""


if TYPE_CHECKING:
    from .models import Regie


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider tells it. ``amount`` is None when the provider says no more
    than a status (PayFiP, before the family has paid); ``amount_refunded`` is None when the
    provider makes no refunds (PayFiP): Foyer's own record of them stands."""

    id: str
    status: str
    amount: Decimal | None
    mode: str
    metadata: dict = field(default_factory=dict)
    checkout_url: str = ""
    amount_refunded: Decimal | None = Decimal("0.00")
    amount_charged_back: Decimal = Decimal("0.00")
    # Direct debit (Mollie): the mandate a first payment created, or a recurring one uses.
    mandate_id: str = ""
    customer_id: str = ""
    sequence_type: str = "oneoff"


@dataclass(frozen=True)
class ProviderMandate:
    """A SEPA direct-debit mandate as the provider tells it, without the IBAN: only its last
    four characters leave this module."""

    id: str
    status: str  # valid, pending, invalid
    iban_last4: str
    holder_name: str
    signed_on: dt.date | None


class PaymentProvider(Protocol):
    """What billing.payments asks of a provider. ``refunds``: whether it gives money back
    (PayFiP does not: the régie refunds outside Foyer)."""

    refunds: bool
    minimal_amount: Decimal

    def create_payment(
        self,
        *,
        amount: Decimal,
        description: str,
        redirect_url: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
        payer_email: str,
    ) -> ProviderPayment: ...

    def get_payment(self, payment_id: str, *, created_at: dt.datetime | None = None) -> ProviderPayment: ...

    def refund(self, *, payment_id: str, amount: Decimal, description: str, idempotency_key: str) -> str: ...


class DirectDebitProvider(PaymentProvider, Protocol):
    """What a provider that collects by SEPA direct debit (Mollie) also does: a customer per
    family, a first payment that signs the mandate, recurring payments on it."""

    def create_customer(self, *, name: str, email: str, metadata: dict, idempotency_key: str) -> str: ...

    def create_first_payment(
        self,
        *,
        customer_id: str,
        amount: Decimal,
        description: str,
        redirect_url: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
    ) -> ProviderPayment: ...

    def create_recurring_payment(
        self,
        *,
        customer_id: str,
        mandate_id: str,
        amount: Decimal,
        description: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
    ) -> ProviderPayment: ...

    def get_mandate(self, *, customer_id: str, mandate_id: str) -> ProviderMandate: ...

    def revoke_mandate(self, *, customer_id: str, mandate_id: str) -> None: ...


def gateway_for(regie: Regie) -> PaymentProvider:
    """The provider of this régie, with its own credentials. The caller checks first that the
    régie takes online payments (:func:`is_configured`)."""
    if regie.payfip:
        from .payfip import PayfipGateway

        return PayfipGateway(numcli=regie.payfip_numcli, saisie=regie.payfip_saisie)
    from .crypto import decrypt_secret

    return MollieGateway(decrypt_secret(regie.mollie_key_encrypted))


def is_configured(regie: Regie) -> bool:
    """Whether the régie has what its provider needs: a Mollie key, a PayFiP client number."""
    return bool(regie.payfip_numcli if regie.payfip else regie.mollie_key_encrypted)


def to_provider_amount(amount: Decimal) -> dict:
    return {"currency": "EUR", "value": f"{amount:.2f}"}


def _payment_data(amount: Decimal, description: str, webhook_url: str, metadata: dict, **more: str) -> dict:
    """A Mollie payment's JSON; ``more``: redirectUrl, customerId, mandateId, sequenceType."""
    return {
        "amount": to_provider_amount(amount),
        "description": description,
        "webhookUrl": webhook_url,
        "metadata": metadata,
        **more,
    }


def _money(value: dict | None) -> Decimal:
    return Decimal(value["value"]) if value else Decimal("0.00")


class MollieGateway:
    refunds = True
    minimal_amount = Decimal("0.01")

    def __init__(self, api_key: str):
        self.client = Client(api_endpoint=settings.MOLLIE_API_ENDPOINT, timeout=(3, 15), retry=2)
        # Mollie's client reports the host name and kernel by default.
        self.client.UNAME = "foyer"
        self.client.set_api_key(api_key)

    def _call(self, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NotFoundError as exc:
            raise ProviderRefused(str(exc)) from exc
        except ResponseError as exc:
            if getattr(exc, "status", 500) >= 500:
                raise ProviderUnavailable(str(exc)) from exc
            raise ProviderRefused(str(exc)) from exc
        except (RequestError, MollieError, OSError) as exc:
            raise ProviderUnavailable(str(exc)) from exc

    @staticmethod
    def _payment(payment) -> ProviderPayment:
        return ProviderPayment(
            id=payment["id"],
            status=payment["status"],
            amount=_money(payment.get("amount")),
            mode=payment.get("mode", ""),
            metadata=payment.get("metadata") or {},
            checkout_url=((payment.get("_links") or {}).get("checkout") or {}).get("href", ""),
            amount_refunded=_money(payment.get("amountRefunded")),
            amount_charged_back=_money(payment.get("amountChargedBack")),
            mandate_id=payment.get("mandateId") or "",
            customer_id=payment.get("customerId") or "",
            sequence_type=payment.get("sequenceType") or "oneoff",
        )

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
        data = _payment_data(amount, description, webhook_url, metadata, redirectUrl=redirect_url)
        return self._create(data, idempotency_key)

    def _create(self, data: dict, idempotency_key: str) -> ProviderPayment:
        return self._payment(self._call(self.client.payments.create, data, idempotency_key=idempotency_key))

    def get_payment(self, payment_id: str, *, created_at: dt.datetime | None = None) -> ProviderPayment:
        return self._payment(self._call(self.client.payments.get, payment_id))

    def refund(self, *, payment_id: str, amount: Decimal, description: str, idempotency_key: str) -> str:
        payment = self._call(self.client.payments.get, payment_id)
        refund = self._call(
            payment.refunds.create,
            {"amount": to_provider_amount(amount), "description": description},
            idempotency_key=idempotency_key,
        )
        return refund["id"]

    def check_key(self) -> None:
        """Raise ProviderRefused when the provider rejects the key."""
        self._call(self.client.payments.list, limit=1)

    # --- direct debit (customers, mandates, first and recurring payments) ------------------

    def create_customer(self, *, name: str, email: str, metadata: dict, idempotency_key: str) -> str:
        data = {"name": name, "metadata": metadata}
        if email:
            data["email"] = email
        customer = self._call(self.client.customers.create, data, idempotency_key=idempotency_key)
        return customer["id"]

    def create_first_payment(
        self,
        *,
        customer_id: str,
        amount: Decimal,
        description: str,
        redirect_url: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
    ) -> ProviderPayment:
        data = _payment_data(
            amount,
            description,
            webhook_url,
            metadata,
            redirectUrl=redirect_url,
            customerId=customer_id,
            sequenceType="first",
        )
        return self._create(data, idempotency_key)

    def create_recurring_payment(
        self,
        *,
        customer_id: str,
        mandate_id: str,
        amount: Decimal,
        description: str,
        webhook_url: str,
        metadata: dict,
        idempotency_key: str,
    ) -> ProviderPayment:
        data = _payment_data(
            amount,
            description,
            webhook_url,
            metadata,
            customerId=customer_id,
            mandateId=mandate_id,
            sequenceType="recurring",
        )
        return self._create(data, idempotency_key)

    def _customer(self, customer_id: str):
        from mollie.api.objects.customer import Customer

        return Customer({"id": customer_id}, self.client)

    def get_mandate(self, *, customer_id: str, mandate_id: str) -> ProviderMandate:
        mandate = self._call(self._customer(customer_id).mandates.get, mandate_id)
        details = mandate.get("details") or {}
        account = (details.get("consumerAccount") or "").replace(" ", "")
        signed = mandate.get("signatureDate")
        return ProviderMandate(
            id=mandate["id"],
            status=mandate.get("status", ""),
            iban_last4=account[-4:],
            holder_name=details.get("consumerName") or "",
            signed_on=dt.date.fromisoformat(signed) if signed else None,
        )

    def revoke_mandate(self, *, customer_id: str, mandate_id: str) -> None:
        self._call(self._customer(customer_id).mandates.delete, mandate_id)
