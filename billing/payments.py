"""Online payments at the régie's provider: invoices and prepaid carts, one checkout per
régie (a family paying several régies goes through them one by one: family.payment_plans).

The attempt is created and committed before the provider is called, with a fixed
idempotency key; the provider's word is only ever taken by re-fetching the payment with the
commune's own key, checked against the attempt, and applied under a row lock, once."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.formatting import format_money
from reservations.for_billing import Booking, Cart, confirm_paid_cart
from tenants.middleware import commune_urlconf
from tenants.tasks import enqueue_on_commit

from .gateway import (
    PaymentProvider,
    ProviderPayment,
    ProviderRefused,
    ProviderUnavailable,
    gateway_for,
    is_configured,
)
from .models import Invoice, Payment, PaymentAttempt, PaymentEvent, Refund, Regie, default_regie_id
from .services import apply_payment, invoice_item, issue_receipt

UNAVAILABLE = _(
    "Le service de paiement ne répond pas. Réessayez dans un instant : vous ne serez pas débité deux fois."
)


def gateway(regie: Regie) -> PaymentProvider:
    """The régie's provider (Mollie or PayFiP), once it is known to take online payments."""
    if not regie.online_payment or not is_configured(regie):
        raise FoyerError(
            "online_payment_off",
            _("La régie « %(regie)s » ne propose pas le paiement en ligne : réglez-la au guichet.")
            % {"regie": regie.name},
            status=409,
        )
    return gateway_for(regie)


ACTIVE = (
    PaymentAttempt.Status.CREATED,
    PaymentAttempt.Status.OPEN,
    PaymentAttempt.Status.PENDING,
    PaymentAttempt.Status.AUTHORIZED,
)


def commune_url(name: str, **kwargs) -> str:
    return settings.FOYER_BASE_URL + reverse(
        name, kwargs=kwargs, urlconf=commune_urlconf(connection.tenant.slug)
    )


def start_invoice_checkout(*, family_ids: list[int], account, invoice_ids: list[int]) -> PaymentAttempt:
    """One checkout for invoices of one régie of this commune; a retry after a network failure
    reuses the same attempt and idempotency key, so the provider makes one payment."""
    with transaction.atomic(durable=True):
        invoices = list(
            Invoice.objects.select_for_update()
            .filter(pk__in=invoice_ids, family_id__in=family_ids, status=Invoice.Status.ISSUED)
            .order_by("pk")
        )
        if not invoices or len(invoices) != len(set(invoice_ids)):
            raise NotFound(_("Ces factures ne sont plus à payer."))
        if len({invoice.regie_id for invoice in invoices}) > 1:
            raise FoyerError(
                "several_regies", _("Une régie à la fois : ces factures sont payées séparément.")
            )
        amount = sum((invoice.amount_due for invoice in invoices), Decimal("0.00"))
        busy = PaymentAttempt.objects.filter(invoices__in=invoices, status__in=ACTIVE).distinct()
        same = next(
            (
                a
                for a in busy
                if set(a.invoices.values_list("pk", flat=True)) == {i.pk for i in invoices}
                and a.amount == amount
            ),
            None,
        )
        if same is None and busy.exists():
            raise FoyerError(
                "payment_in_progress",
                _(
                    "Un paiement est déjà en cours pour l'une de ces factures : terminez-le ou attendez quelques minutes."
                ),
                status=409,
            )
        attempt = same or new_attempt(
            regie_id=invoices[0].regie_id,
            family_id=invoices[0].family_id,
            account=account,
            amount=amount,
            description=_("Factures %(refs)s") % {"refs": ", ".join(i.reference for i in invoices)},
        )
        if same is None:
            attempt.invoices.set(invoices)
    return _open_at_provider(attempt)


def held_by_regie(cart: Cart) -> dict[int, list[Booking]]:
    """The held bookings of a cart, by the régie that collects them."""
    default = None
    parts: dict[int, list[Booking]] = {}
    for booking in cart.bookings.filter(status=Booking.Status.HELD).select_related("prestation__service"):
        regie_id = booking.prestation.service.regie_id
        if regie_id is None:
            default = default or default_regie_id()
            regie_id = default
        parts.setdefault(regie_id, []).append(booking)
    return parts


def start_cart_checkout(
    *, family_ids: list[int], account, cart_id: int, regie_id: int | None = None
) -> PaymentAttempt:
    """Pay the held bookings of a validated prepaid cart that one régie collects (the first
    one still held when no régie is given). An attempt still open is reused; after a failed
    one, a new attempt pays the same bookings, still held."""
    with transaction.atomic(durable=True):
        cart = (
            Cart.objects.select_for_update()
            .filter(pk=cart_id, family_id__in=family_ids, status=Cart.Status.AWAITING_PAYMENT)
            .first()
        )
        if cart is None:
            raise NotFound(
                _("Ce panier n'attend plus de paiement : ses places ont été confirmées ou libérées.")
            )
        parts = held_by_regie(cart)
        if regie_id is None and parts:
            regie_id = min(parts)
        held = parts.get(regie_id, [])
        amount = sum((booking.price for booking in held), Decimal("0.00"))
        open_attempt = cart.payment_attempts.filter(regie_id=regie_id, status__in=ACTIVE).first()
        if open_attempt is not None and open_attempt.amount != amount:
            open_attempt = None  # the cart changed since (a hold expired): a new checkout
        attempt = open_attempt or new_attempt(
            regie_id=regie_id,
            family_id=cart.family_id,
            account=account,
            amount=amount,
            cart=cart,
            description=_("Réservations (panier %(id)s)") % {"id": cart.pk},
        )
    return _open_at_provider(attempt)


def new_attempt(
    *, regie_id: int, family_id, account, amount: Decimal, description: str, cart=None
) -> PaymentAttempt:
    if amount <= 0:
        raise FoyerError("nothing_to_pay", _("Il n'y a rien à payer."))
    return PaymentAttempt.objects.create(
        regie_id=regie_id,
        family_id=family_id,
        account=account,
        amount=amount,
        description=description,
        cart=cart,
        idempotency_key=uuid.uuid4().hex,
        webhook_token=secrets.token_urlsafe(32),
    )


def _open_at_provider(attempt: PaymentAttempt) -> PaymentAttempt:
    if attempt.provider_id:
        return attempt
    regie = Regie.objects.get(pk=attempt.regie_id)
    provider_gateway = gateway(regie)
    if attempt.amount < provider_gateway.minimal_amount:
        raise FoyerError(
            "amount_below_minimum",
            _(
                "Le paiement en ligne de la régie « %(regie)s » commence à %(minimum)s : réglez ce montant "
                "au guichet de la régie."
            )
            % {"regie": regie.name, "minimum": format_money(provider_gateway.minimal_amount)},
            status=409,
        )
    try:
        provider = provider_gateway.create_payment(
            amount=attempt.amount,
            description=attempt.description,
            redirect_url=commune_url("commune:payment_return", attempt_id=attempt.pk),
            webhook_url=commune_url("commune:payment_webhook", token=attempt.webhook_token),
            metadata={"attempt": attempt.pk, "commune": connection.schema_name, "regie": attempt.regie_id},
            idempotency_key=attempt.idempotency_key,
            payer_email=_payer_email(attempt),
        )
    except ProviderUnavailable as exc:
        raise FoyerError("provider_unavailable", UNAVAILABLE, status=503) from exc
    except ProviderRefused as exc:
        raise FoyerError(
            "provider_refused",
            _("Le paiement en ligne de la commune est mal configuré : contactez la mairie."),
            status=502,
        ) from exc
    return record_provider_payment(attempt, provider)


def record_provider_payment(attempt: PaymentAttempt, provider: ProviderPayment) -> PaymentAttempt:
    """Bind the attempt to the payment the provider made for it (once: a replay changes nothing)."""
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if not attempt.provider_id:
            attempt.provider_id = provider.id
            attempt.mode = provider.mode
            attempt.checkout_url = provider.checkout_url
            attempt.status = provider.status
            attempt.save(update_fields=["provider_id", "mode", "checkout_url", "status", "updated_at"])
            record_event(attempt, "create", provider)
    return attempt


def _payer_email(attempt: PaymentAttempt) -> str:
    """The e-mail of the guardian who pays (PayFiP sends its receipt there)."""
    from shared_identity.models import Account

    return Account.objects.filter(pk=attempt.account_id).values_list("email", flat=True).first() or ""


def record_event(
    attempt: PaymentAttempt, source: str, provider: ProviderPayment | None = None, **payload
) -> None:
    data = (
        {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(provider).items()} if provider else {}
    )
    PaymentEvent.objects.create(
        attempt=attempt,
        source=source,
        provider_status=provider.status if provider else "",
        payload={**data, **payload},
    )


def sync_attempt(*, attempt_id: int, source: str) -> PaymentAttempt:
    """Re-fetch the payment with the régie's key and apply what it says, once."""
    attempt = PaymentAttempt.objects.select_related("regie").filter(pk=attempt_id).first()
    if attempt is None:
        raise NotFound()
    if not attempt.provider_id:
        return attempt
    provider = gateway(attempt.regie).get_payment(attempt.provider_id, created_at=attempt.created_at)
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        record_event(attempt, source, provider)
        mismatch = _binding_mismatch(attempt, provider)
        if mismatch:
            attempt.flagged = mismatch
            attempt.save(update_fields=["flagged", "updated_at"])
            return attempt
        _apply(attempt, provider)
        from .direct_debit import after_sync

        follow_up = after_sync(attempt, provider)
    if follow_up:
        follow_up()
    return attempt


def _binding_mismatch(attempt: PaymentAttempt, provider: ProviderPayment) -> str:
    if provider.id != attempt.provider_id:
        return _("identifiant différent")
    if provider.amount is None and provider.status != PaymentAttempt.Status.PAID:
        return ""  # a status and nothing else (PayFiP before payment): nothing to bind, nothing paid
    if provider.amount != attempt.amount:
        return _("montant différent (%(amount)s)") % {"amount": provider.amount}
    if str(provider.metadata.get("attempt")) != str(attempt.pk):
        return _("paiement rattaché à une autre tentative")
    if attempt.mode and provider.mode != attempt.mode:
        return _("mode différent (%(mode)s)") % {"mode": provider.mode}
    return ""


def _apply(attempt: PaymentAttempt, provider: ProviderPayment) -> None:
    Status = PaymentAttempt.Status
    now = timezone.now()
    fields = ["status", "amount_refunded", "amount_charged_back", "updated_at"]
    if provider.amount_charged_back > attempt.amount_charged_back:
        attempt.flagged = _("rejet de paiement (chargeback) de %(amount)s €") % {
            "amount": provider.amount_charged_back
        }
        fields.append("flagged")
    if provider.amount_refunded is not None:
        attempt.amount_refunded = provider.amount_refunded
    attempt.amount_charged_back = provider.amount_charged_back
    if provider.status == Status.PAID and attempt.status != Status.PAID:
        late = attempt.status in (Status.FAILED, Status.CANCELED, Status.EXPIRED)
        attempt.status = Status.PAID
        attempt.settled_at = now
        fields.append("settled_at")
        # A mandate's first payment settles nothing: it signs the mandate (billing.direct_debit).
        leftover = Decimal("0.00") if _signs_mandate(attempt) else _settle(attempt)
        notes = []
        if late:
            notes.append(_("payé après son expiration locale"))
        if leftover:
            notes.append(_("trop-perçu de %(amount)s € à rembourser") % {"amount": leftover})
        if notes:
            attempt.flagged = "; ".join(notes)
            fields.append("flagged")
    elif provider.status in (Status.FAILED, Status.CANCELED, Status.EXPIRED) and attempt.status not in (
        PaymentAttempt.FINAL
    ):
        # A prepaid cart keeps its hold: the family may try again until the hold expires.
        attempt.status = provider.status
    elif provider.status in (Status.OPEN, Status.PENDING, Status.AUTHORIZED) and attempt.status not in (
        PaymentAttempt.FINAL
    ):
        attempt.status = provider.status
    attempt.save(update_fields=fields)


def _signs_mandate(attempt: PaymentAttempt) -> bool:
    from .models import DebitMandate

    return DebitMandate.objects.filter(first_attempt=attempt).exists()


def _settle(attempt: PaymentAttempt) -> Decimal:
    """Apply a paid attempt and issue its receipt; returns what could not be applied (paid
    twice, hold expired)."""
    remaining = attempt.amount
    items: list[dict] = []
    payments: list[Payment] = []
    payer_name = ""
    if attempt.cart_id:
        cart = Cart.objects.get(pk=attempt.cart_id)
        held = held_by_regie(cart).get(attempt.regie_id, [])
        confirmed = confirm_paid_cart(cart_id=attempt.cart_id, booking_ids=[b.pk for b in held])
        for booking in Booking.objects.filter(pk__in=[b.pk for b in confirmed]).select_related(
            "prestation", "child"
        ):
            items.append(
                {
                    "label": _("%(prestation)s — %(child)s, le %(date)s")
                    % {
                        "prestation": booking.prestation.label,
                        "child": booking.child.first_name,
                        "date": booking.date.strftime("%d/%m/%Y"),
                    },
                    "amount": str(booking.price),
                }
            )
            remaining -= booking.price
    else:
        for invoice in Invoice.objects.select_for_update().filter(payment_attempts=attempt).order_by("pk"):
            share = min(remaining, invoice.amount_due)
            if share > 0:
                payment = apply_payment(
                    invoice_id=invoice.pk,
                    method=Payment.Method.ONLINE,
                    amount=share,
                    reference=attempt.provider_id,
                )
                payments.append(payment)
                items.append(invoice_item(invoice, share))
                payer_name = payer_name or invoice.payer_name
                remaining -= share
    paid = attempt.amount - remaining
    if paid > 0:
        receipt = issue_receipt(
            regie=attempt.regie,
            family_id=attempt.family_id,
            payer_name=payer_name,
            method=Payment.Method.ONLINE,
            amount=paid,
            received_at=attempt.settled_at,
            provider_reference=attempt.provider_id,
            attempt=attempt,
            items=items,
        )
        Payment.objects.filter(pk__in=[p.pk for p in payments]).update(attempt=attempt, receipt=receipt)
    return remaining


def handle_webhook(*, token: str, provider_id: str) -> None:
    """The provider's notification (unsigned, carries only an id): never trusted, only a
    reason to re-fetch. Unknown tokens and ids are ignored."""
    attempt = PaymentAttempt.objects.filter(webhook_token=token).first()
    if attempt is None or not provider_id or provider_id != attempt.provider_id:
        return
    from .tasks import sync_payment_attempt

    enqueue_on_commit(sync_payment_attempt, schema_name=connection.schema_name, attempt_id=attempt.pk)


def refund_attempt(*, attempt_id: int, amount: Decimal, reason: str, actor=None) -> Refund:
    """Give money back through the provider (full or partial); the idempotency key is stored
    before the call, so a retry never refunds twice. A provider without refunds (PayFiP): the
    régie gives the money back itself, outside Foyer, and the refund is only recorded here."""
    amount = Decimal(amount).quantize(Decimal("0.01"))
    with transaction.atomic(durable=True):
        attempt = (
            PaymentAttempt.objects.select_for_update().select_related("regie").filter(pk=attempt_id).first()
        )
        if attempt is None:
            raise NotFound()
        refunded = sum((r.amount for r in attempt.refunds.all()), Decimal("0.00"))
        if attempt.status != PaymentAttempt.Status.PAID or amount <= 0 or amount > attempt.amount - refunded:
            raise FoyerError(
                "invalid_refund",
                _("Remboursement impossible : au plus ce qui a été payé et pas encore remboursé."),
            )
        provider = gateway_for(attempt.regie)
        refund = Refund.objects.create(
            attempt=attempt,
            amount=amount,
            reason=reason,
            idempotency_key=uuid.uuid4().hex,
            created_by=actor,
            outside_provider=not provider.refunds,
        )
        if refund.outside_provider:
            attempt.amount_refunded += amount
            attempt.save(update_fields=["amount_refunded", "updated_at"])
            record_event(attempt, "refund", amount=str(amount), outside_provider=True)
            return refund
    try:
        provider_id = provider.refund(
            payment_id=attempt.provider_id,
            amount=amount,
            description=reason,
            idempotency_key=refund.idempotency_key,
        )
    except ProviderUnavailable as exc:
        raise FoyerError("provider_unavailable", UNAVAILABLE, status=503) from exc
    Refund.objects.filter(pk=refund.pk).update(provider_id=provider_id)
    refund.provider_id = provider_id
    return refund


def get_family_attempt(*, family_ids: list[int], attempt_id: int) -> PaymentAttempt:
    attempt = PaymentAttempt.objects.filter(pk=attempt_id, family_id__in=family_ids).first()
    if attempt is None:
        raise NotFound()
    return attempt


def refund_credit_note(*, credit_note_id: int, actor=None) -> Refund:
    """Give an avoir back through the provider instead of deducting it from the next invoice:
    possible when the corrected invoice was paid online."""
    from .models import CreditNote

    note = CreditNote.objects.filter(pk=credit_note_id).first()
    if note is None:
        raise NotFound()
    if note.applied_at or note.refund_id:
        raise FoyerError("credit_note_used", _("Cet avoir est déjà déduit ou remboursé."), status=409)
    attempt = (
        PaymentAttempt.objects.filter(invoices=note.invoice_id, status=PaymentAttempt.Status.PAID)
        .order_by("-settled_at")
        .first()
    )
    if attempt is None:
        raise FoyerError(
            "not_paid_online",
            _(
                "La facture n'a pas été payée en ligne : remboursez au guichet de la régie, ou laissez l'avoir "
                "se déduire de la prochaine facture."
            ),
            status=409,
        )
    refund = refund_attempt(attempt_id=attempt.pk, amount=note.amount, reason=note.reason, actor=actor)
    CreditNote.objects.filter(pk=note.pk, refund__isnull=True).update(refund=refund)
    return refund
