"""Direct debit (prélèvement automatique) through the régie's Mollie account.

A family signs a SEPA mandate with a first payment of a small amount made for a Mollie
customer (``sequenceType=first``); once paid, Mollie holds the mandate and Foyer keeps its
reference, the IBAN's last four characters, the holder and the signature date. Invoices issued
while the mandate is valid get a :class:`DirectDebit` (one per invoice: the database says so),
collected on their due date by a beat task as one recurring payment each, with the attempt's
fixed idempotency key. A failed or charged-back debit puts the invoice back to "à payer",
e-mails the family and shows in the console; a revoked mandate cancels the debits not yet sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from tenants.tasks import enqueue_on_commit

from .gateway import (
    DirectDebitProvider,
    ProviderPayment,
    ProviderRefused,
    ProviderUnavailable,
    gateway_for,
    is_configured,
)
from .models import DebitMandate, DirectDebit, Invoice, PaymentAttempt, Regie
from .payments import (
    ACTIVE,
    UNAVAILABLE,
    commune_url,
    new_attempt,
    record_event,
    record_provider_payment,
)

# The first payment that signs the mandate: the smallest Mollie takes.
FIRST_PAYMENT_AMOUNT = Decimal("0.01")
# A debit marked as sent whose provider call never answered: sent again (same key) after this.
RESUME_AFTER = dt.timedelta(minutes=10)
FAILED_STATUSES = (
    PaymentAttempt.Status.FAILED,
    PaymentAttempt.Status.CANCELED,
    PaymentAttempt.Status.EXPIRED,
)


def offers_direct_debit(regie: Regie) -> bool:
    return regie.direct_debit_enabled and not regie.payfip and regie.online_payment and is_configured(regie)


def _gateway(regie: Regie) -> DirectDebitProvider:
    if not offers_direct_debit(regie):
        raise FoyerError(
            "direct_debit_off",
            _("La régie « %(regie)s » ne propose pas le prélèvement automatique.") % {"regie": regie.name},
            status=409,
        )
    return gateway_for(regie)


def _provider_error(exc: Exception) -> FoyerError:
    if isinstance(exc, ProviderUnavailable):
        return FoyerError("provider_unavailable", UNAVAILABLE, status=503)
    return FoyerError(
        "provider_refused",
        _("Le prélèvement automatique de la commune est mal configuré : contactez la mairie."),
        status=502,
    )


# --- Signing a mandate --------------------------------------------------------------------------


def start_mandate_signup(*, family_id: int, account, regie_id: int) -> PaymentAttempt:
    """ "Activer le prélèvement automatique": a Mollie customer for the family (the one it had
    with this régie, if any) and a first payment of 0,01 € whose checkout signs the mandate.
    Asked again while the signature is under way, the same checkout is given back."""
    with transaction.atomic(durable=True):
        regie = Regie.objects.filter(pk=regie_id).first()
        if regie is None:
            raise NotFound()
        _gateway(regie)
        live = (
            DebitMandate.objects.select_for_update(of=("self",))
            .select_related("first_attempt")
            .filter(regie=regie, family_id=family_id, status__in=DebitMandate.LIVE)
            .first()
        )
        if live is not None and live.status == DebitMandate.Status.VALID:
            raise FoyerError(
                "mandate_exists",
                _("Le prélèvement automatique est déjà actif pour la régie « %(regie)s ».")
                % {"regie": regie.name},
                status=409,
            )
        if live is not None and live.first_attempt and live.first_attempt.status in ACTIVE:
            mandate = live
        else:
            if live is not None:  # its checkout failed or expired: start again
                live.status = DebitMandate.Status.INVALID
                live.save(update_fields=["status"])
            attempt = new_attempt(
                regie_id=regie.pk,
                family_id=family_id,
                account=account,
                amount=FIRST_PAYMENT_AMOUNT,
                description=_("Mandat de prélèvement – %(regie)s") % {"regie": regie.name},
            )
            known_customer = (
                DebitMandate.objects.filter(regie=regie, family_id=family_id)
                .exclude(customer_id="")
                .values_list("customer_id", flat=True)
                .first()
            )
            mandate = DebitMandate.objects.create(
                regie=regie,
                family_id=family_id,
                account=account,
                customer_id=known_customer or "",
                first_attempt=attempt,
            )
    attempt = mandate.first_attempt
    if attempt.provider_id:
        return attempt
    provider = _gateway(regie)
    try:
        if not mandate.customer_id:
            customer_id = provider.create_customer(
                name=_payer_name(family_id),
                email=_account_email(account),
                metadata={"family": family_id, "commune": connection.schema_name, "regie": regie.pk},
                idempotency_key=f"customer-{attempt.idempotency_key}",
            )
            DebitMandate.objects.filter(pk=mandate.pk, customer_id="").update(customer_id=customer_id)
            mandate.refresh_from_db(fields=["customer_id"])
        payment = provider.create_first_payment(
            customer_id=mandate.customer_id,
            amount=attempt.amount,
            description=attempt.description,
            redirect_url=commune_url("commune:mandate_return", attempt_id=attempt.pk),
            webhook_url=commune_url("commune:payment_webhook", token=attempt.webhook_token),
            metadata={"attempt": attempt.pk, "commune": connection.schema_name, "regie": regie.pk},
            idempotency_key=attempt.idempotency_key,
        )
    except (ProviderUnavailable, ProviderRefused) as exc:
        raise _provider_error(exc) from exc
    return record_provider_payment(attempt, payment)


def _payer_name(family_id: int) -> str:
    from .services import payers

    return payers([family_id]).get(family_id, ("", ""))[0]


def _account_email(account) -> str:
    return getattr(account, "email", "") or ""


def complete_mandate(*, mandate_id: int) -> DebitMandate:
    """Read the mandate a paid first payment created and keep what Foyer may keep of it."""
    mandate = DebitMandate.objects.select_related("regie").get(pk=mandate_id)
    if mandate.status != DebitMandate.Status.PENDING or not mandate.mandate_id:
        return mandate
    found = gateway_for(mandate.regie).get_mandate(
        customer_id=mandate.customer_id, mandate_id=mandate.mandate_id
    )
    with transaction.atomic():
        mandate = DebitMandate.objects.select_for_update().get(pk=mandate_id)
        if mandate.status != DebitMandate.Status.PENDING:
            return mandate
        mandate.iban_last4 = found.iban_last4
        mandate.holder_name = found.holder_name[:255]
        mandate.signed_on = found.signed_on or timezone.localdate()
        if found.status == "valid":
            mandate.status = DebitMandate.Status.VALID
        elif found.status == "invalid":
            mandate.status = DebitMandate.Status.INVALID
        mandate.save(update_fields=["iban_last4", "holder_name", "signed_on", "status"])
    return mandate


def after_sync(attempt: PaymentAttempt, provider: ProviderPayment) -> Callable[[], object] | None:
    """Called by billing.payments.sync_attempt, inside its transaction, once the provider's word
    is applied to the attempt: a first payment signs (or fails to sign) its mandate; a debit
    is paid, failed or charged back. Returns what to do once committed (read the mandate)."""
    signup = DebitMandate.objects.select_for_update().filter(first_attempt=attempt).first()
    if signup is not None:
        if signup.status == DebitMandate.Status.REVOKED and not signup.mandate_id and provider.mandate_id:
            # Stopped while being signed, then paid at the old checkout: the mandate Mollie
            # made is revoked there too, and the verification payment given back.
            signup.mandate_id = provider.mandate_id
            signup.save(update_fields=["mandate_id"])
            return lambda: _revoke_late_signature(signup.pk)
        if signup.status != DebitMandate.Status.PENDING:
            return None
        if attempt.status == PaymentAttempt.Status.PAID and provider.mandate_id:
            if not signup.mandate_id:
                signup.mandate_id = provider.mandate_id
                signup.save(update_fields=["mandate_id"])
            return lambda: _complete_quietly(signup.pk)
        if attempt.status in FAILED_STATUSES:
            signup.status = DebitMandate.Status.INVALID
            signup.save(update_fields=["status"])
        return None
    debit = DirectDebit.objects.select_for_update().filter(attempt=attempt).first()
    if debit is not None:
        _debit_outcome(debit, attempt, provider)
    return None


def _complete_quietly(mandate_id: int) -> None:
    try:
        mandate = complete_mandate(mandate_id=mandate_id)
    except (ProviderUnavailable, ProviderRefused):
        return  # still pending with its reference: the next collection run reads it again
    if mandate.status == DebitMandate.Status.VALID:
        _refund_first_payment(mandate)


def _revoke_late_signature(mandate_id: int) -> None:
    mandate = DebitMandate.objects.select_related("regie").get(pk=mandate_id)
    try:
        gateway_for(mandate.regie).revoke_mandate(
            customer_id=mandate.customer_id, mandate_id=mandate.mandate_id
        )
    except (ProviderUnavailable, ProviderRefused):
        pass  # never used by Foyer (revoked here); Mollie lets it lapse unused
    _refund_first_payment(mandate)


def _refund_first_payment(mandate: DebitMandate) -> None:
    """The verification payment goes back to the family once the mandate is signed (a refund
    asked once: its idempotency key is stored first; a failed call shows in the console)."""
    from .models import Refund
    from .payments import refund_attempt

    if (
        mandate.first_attempt_id is None
        or Refund.objects.filter(attempt_id=mandate.first_attempt_id).exists()
    ):
        return
    try:
        refund_attempt(
            attempt_id=mandate.first_attempt_id,
            amount=FIRST_PAYMENT_AMOUNT,
            reason=_("Paiement de vérification du mandat de prélèvement"),
        )
    except FoyerError:
        pass  # the refund row waits for its provider id: the dashboard lists it


def revoke_mandate(*, family_ids: list[int], mandate_id: int) -> DebitMandate:
    """ "Arrêter le prélèvement automatique": revoked at Mollie, then here; the debits not yet
    sent are canceled (one already sent to the bank cannot be called back)."""
    from .selectors import get_family_mandate

    mandate = get_family_mandate(family_ids=family_ids, mandate_id=mandate_id)
    if mandate.mandate_id:
        try:
            gateway_for(mandate.regie).revoke_mandate(
                customer_id=mandate.customer_id, mandate_id=mandate.mandate_id
            )
        except ProviderRefused:
            pass  # already revoked at the bank or at Mollie
        except ProviderUnavailable as exc:
            raise _provider_error(exc) from exc
    with transaction.atomic(durable=True):
        mandate = DebitMandate.objects.select_for_update().get(pk=mandate.pk)
        if mandate.status in DebitMandate.LIVE:
            mandate.status = DebitMandate.Status.REVOKED
            mandate.revoked_at = timezone.now()
            mandate.save(update_fields=["status", "revoked_at"])
            DirectDebit.objects.filter(mandate=mandate, status=DirectDebit.Status.SCHEDULED).update(
                status=DirectDebit.Status.CANCELED, outcome=_("mandat révoqué"), updated_at=timezone.now()
            )
    return mandate


# --- Scheduling and collecting ------------------------------------------------------------------


def schedule_debits(*, regie: Regie, invoices: list[Invoice]) -> int:
    """At issue (inside the issuing transaction): the invoices of families with a valid
    mandate for this régie will be debited on their due date."""
    if not offers_direct_debit(regie):
        return 0
    mandates = {
        m.family_id: m
        for m in DebitMandate.objects.filter(
            regie=regie, status=DebitMandate.Status.VALID, family_id__in={i.family_id for i in invoices}
        )
    }
    debits = [
        DirectDebit(
            invoice=invoice,
            mandate=mandates[invoice.family_id],
            collect_on=invoice.due_date,
            amount=invoice.total - invoice.paid_amount,
        )
        for invoice in invoices
        if invoice.status == Invoice.Status.ISSUED
        and invoice.family_id in mandates
        and invoice.total > invoice.paid_amount
    ]
    DirectDebit.objects.bulk_create(debits)
    return len(debits)


def collect_due_debits(*, today: dt.date | None = None, now: dt.datetime | None = None) -> int:
    """The beat task's work: send every debit due by ``today`` (the commune's date) to the
    provider, once. Safe to run twice at once: each debit is claimed under a row lock and sent
    with its attempt's fixed idempotency key. Returns how many were sent."""
    today = today or timezone.localdate()
    now = now or timezone.now()
    for mandate in DebitMandate.objects.filter(status=DebitMandate.Status.PENDING).exclude(mandate_id=""):
        _complete_quietly(mandate.pk)
    sent = 0
    due = DirectDebit.objects.filter(status=DirectDebit.Status.SCHEDULED, collect_on__lte=today).values_list(
        "pk", "mandate_id"
    )
    for debit_id, mandate_id in list(due):
        debit = _claim(debit_id=debit_id, mandate_id=mandate_id)
        if debit is not None:
            _send(debit)  # ProviderUnavailable stops the run: the debit is sent again next time
            sent += 1
    stale = DirectDebit.objects.filter(
        status=DirectDebit.Status.SUBMITTED,
        attempt__provider_id__isnull=True,
        attempt__created_at__lt=now - RESUME_AFTER,
    ).select_related("attempt", "mandate__regie")
    for debit in stale:
        _send(debit)
    return sent


def _claim(*, debit_id: int, mandate_id: int) -> DirectDebit | None:
    """Mark one due debit as sent, with its payment attempt, in one transaction: the mandate
    row first (as a revocation takes it), then the debit, skipped when another run holds it."""
    with transaction.atomic():
        mandate = (
            DebitMandate.objects.select_for_update(of=("self",)).select_related("regie").get(pk=mandate_id)
        )
        debit = (
            DirectDebit.objects.select_for_update(skip_locked=True)
            .filter(pk=debit_id, status=DirectDebit.Status.SCHEDULED)
            .first()
        )
        if debit is None:
            return None
        invoice = Invoice.objects.select_for_update().get(pk=debit.invoice_id)
        if mandate.status != DebitMandate.Status.VALID or not offers_direct_debit(mandate.regie):
            _cancel(
                debit,
                _("mandat révoqué")
                if mandate.status != DebitMandate.Status.VALID
                else _("prélèvement arrêté par la régie"),
            )
            return None
        if invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
            _cancel(debit, _("facture déjà réglée"))
            return None
        if PaymentAttempt.objects.filter(invoices=invoice, status__in=ACTIVE).exists():
            return None  # the family is paying it online right now: tomorrow's run looks again
        attempt = new_attempt(
            regie_id=invoice.regie_id,
            family_id=invoice.family_id,
            account=mandate.account,
            amount=invoice.amount_due,
            description=_("Prélèvement de la facture %(ref)s") % {"ref": invoice.reference},
        )
        attempt.invoices.set([invoice])
        debit.attempt = attempt
        debit.amount = attempt.amount
        debit.mandate = mandate
        debit.status = DirectDebit.Status.SUBMITTED
        debit.save(update_fields=["attempt", "amount", "status", "updated_at"])
    return debit


def _cancel(debit: DirectDebit, reason: str) -> None:
    debit.status = DirectDebit.Status.CANCELED
    debit.outcome = reason
    debit.save(update_fields=["status", "outcome", "updated_at"])


def _send(debit: DirectDebit) -> None:
    attempt, mandate = debit.attempt, debit.mandate
    try:
        payment = gateway_for(mandate.regie).create_recurring_payment(
            customer_id=mandate.customer_id,
            mandate_id=mandate.mandate_id,
            amount=attempt.amount,
            description=attempt.description,
            webhook_url=commune_url("commune:payment_webhook", token=attempt.webhook_token),
            metadata={"attempt": attempt.pk, "commune": connection.schema_name, "regie": mandate.regie_id},
            idempotency_key=attempt.idempotency_key,
        )
    except ProviderRefused as exc:
        # Mollie refuses a debit on a mandate revoked at the bank: no payment was made.
        with transaction.atomic():
            attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
            debit = DirectDebit.objects.select_for_update().get(pk=debit.pk)
            if attempt.provider_id or debit.status != DirectDebit.Status.SUBMITTED:
                return
            attempt.status = PaymentAttempt.Status.FAILED
            attempt.save(update_fields=["status", "updated_at"])
            record_event(attempt, "create", error=str(exc)[:500])
            DebitMandate.objects.filter(pk=mandate.pk, status=DebitMandate.Status.VALID).update(
                status=DebitMandate.Status.INVALID
            )
            _fail(debit, _("le mandat n'est plus valable"))
        return
    record_provider_payment(attempt, payment)


def _debit_outcome(debit: DirectDebit, attempt: PaymentAttempt, provider: ProviderPayment) -> None:
    if debit.status == DirectDebit.Status.SUBMITTED:
        if attempt.status == PaymentAttempt.Status.PAID:
            debit.status = DirectDebit.Status.PAID
            debit.save(update_fields=["status", "updated_at"])
        elif attempt.status in FAILED_STATUSES:
            _fail(debit, _("refusé par la banque (provision insuffisante, compte clos ou mandat révoqué)"))
            return
    if debit.status == DirectDebit.Status.PAID and provider.amount_charged_back > 0:
        # The bank took the money back (the family contested the debit): the invoice is owed again.
        invoice = Invoice.objects.select_for_update().get(pk=debit.invoice_id)
        back = min(provider.amount_charged_back, invoice.paid_amount)
        Invoice.objects.filter(pk=invoice.pk).update(
            paid_amount=F("paid_amount") - back, status=Invoice.Status.ISSUED
        )
        _fail(debit, _("rejeté par la banque après le prélèvement (%(amount)s €)") % {"amount": back})


def _fail(debit: DirectDebit, reason: str) -> None:
    debit.status = DirectDebit.Status.FAILED
    debit.outcome = reason
    debit.save(update_fields=["status", "outcome", "updated_at"])
    from .tasks import send_debit_failed_email

    enqueue_on_commit(send_debit_failed_email, schema_name=connection.schema_name, debit_id=debit.pk)
