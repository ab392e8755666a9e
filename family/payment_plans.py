"""Payment plans: a family pays invoices or prepaid carts of several communes and régies in
one go, one checkout per régie, chained. The plan is kept (public schema) so the family can
stop after any step and come back from "Mes factures"; each step's state is read back from
the commune's own payment attempt, never assumed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import payments
from billing.models import Invoice, PaymentAttempt, Regie
from foyer.errors import FoyerError, NotFound
from reservations.for_billing import Cart
from shared_identity.models import Account
from tenants.context import commune_context
from tenants.models import Commune

from .models import PaymentPlan, PaymentPlanStep
from .router import FamilyScope, family_invoice_lists

Status = PaymentPlanStep.Status
_FAILED = (PaymentAttempt.Status.FAILED, PaymentAttempt.Status.CANCELED, PaymentAttempt.Status.EXPIRED)


@dataclass
class _Part:
    commune: Commune
    regie_id: int
    label: str
    amount: Decimal
    invoice_ids: list[int]
    cart_id: int | None = None


def offline_message(headings: list[str]) -> str:
    return _(
        "Ces factures se règlent au guichet de la régie (espèces, chèque, CESU), pas en ligne : "
        "%(regies)s. Indiquez-y la référence de la facture."
    ) % {"regies": ", ".join(headings)}


def plan_invoices(*, scope: FamilyScope, account: Account, keys: list[str]) -> tuple[PaymentPlan, list[str]]:
    """A plan for the chosen invoices ("commune:id" keys) that are still to pay, one step per
    commune and régie, in the order "Mes factures" shows them; and the "Commune – Régie"
    headings of those that cannot be paid online (left out of the plan)."""
    lists = family_invoice_lists(scope=scope)
    chosen = set(keys)
    # An invoice its bank is to be debited for is not paid by hand.
    selected = [i for i in lists.payable + lists.hidden_unpaid if i.key in chosen and i.commune.is_active]
    if not selected:
        raise FoyerError("nothing_selected", _("Sélectionnez au moins une facture à payer."))
    offline = sorted({i.heading for i in selected if not i.online_payment})
    online = [i for i in selected if i.online_payment]
    if not online:
        raise FoyerError("offline_regie", offline_message(offline))
    parts: dict[tuple[int, int], _Part] = {}
    for invoice in online:
        part = parts.setdefault(
            (invoice.commune.pk, invoice.regie_id),
            _Part(invoice.commune, invoice.regie_id, invoice.heading, Decimal("0.00"), []),
        )
        part.amount += invoice.amount_due
        part.invoice_ids.append(invoice.id)
    return _create(account, list(parts.values())), offline


def plan_carts(*, account: Account, carts: list[tuple[Commune, int]]) -> PaymentPlan | None:
    """A plan for validated prepaid carts awaiting payment: one step per commune and régie
    whose held bookings are to pay online. None when nothing is."""
    parts = []
    for commune, cart_id in carts:
        with commune_context(commune):
            cart = Cart.objects.filter(pk=cart_id, status=Cart.Status.AWAITING_PAYMENT).first()
            if cart is None:
                continue
            held = payments.held_by_regie(cart)
            # A régie without online payment is paid at its counter (onboarding warns of it).
            names = dict(Regie.objects.filter(pk__in=held, online_payment=True).values_list("pk", "name"))
            for regie_id, bookings in sorted(held.items()):
                if regie_id not in names:
                    continue
                parts.append(
                    _Part(
                        commune,
                        regie_id,
                        f"{commune.name} – {names[regie_id]}",
                        sum((b.price for b in bookings), Decimal("0.00")),
                        [],
                        cart_id=cart.pk,
                    )
                )
    parts = [part for part in parts if part.amount > 0]
    return _create(account, parts) if parts else None


def _create(account: Account, parts: list[_Part]) -> PaymentPlan:
    with transaction.atomic():
        plan = PaymentPlan.objects.create(account=account)
        PaymentPlanStep.objects.bulk_create(
            PaymentPlanStep(
                plan=plan,
                position=position,
                commune=part.commune,
                regie_id=part.regie_id,
                label=part.label,
                invoice_ids=part.invoice_ids,
                cart_id=part.cart_id,
                amount=part.amount,
            )
            for position, part in enumerate(parts, start=1)
        )
    return plan


def get_plan(*, account: Account, plan_id: int) -> PaymentPlan:
    plan = PaymentPlan.objects.filter(pk=plan_id, account=account).first()
    if plan is None:
        raise NotFound(_("Ce paiement n'existe pas."))
    return refresh(plan)


def open_plans(account: Account) -> list[PaymentPlan]:
    """The plans the family left unfinished, newest first, brought up to date."""
    plans = PaymentPlan.objects.filter(account=account, closed_at__isnull=True)
    return [plan for plan in (refresh(plan) for plan in plans) if plan.closed_at is None]


def plan_of_attempt(*, account: Account, commune: Commune, attempt_id: int) -> PaymentPlan | None:
    step = (
        PaymentPlanStep.objects.filter(plan__account=account, commune=commune, attempt_id=attempt_id)
        .select_related("plan")
        .first()
    )
    return refresh(step.plan) if step else None


def refresh(plan: PaymentPlan) -> PaymentPlan:
    """Read each unfinished step's state from its commune; close the plan when nothing is
    left to pay."""
    steps = list(plan.steps.select_related("commune").order_by("position"))
    changed = []
    for step in steps:
        if step.open:
            status = _current_status(step)
            if status != step.status:
                step.status = status
                changed.append(step)
    if changed:
        PaymentPlanStep.objects.bulk_update(changed, ["status"])
    if plan.closed_at is None and not any(step.open for step in steps):
        plan.closed_at = timezone.now()
        plan.save(update_fields=["closed_at"])
    plan.ordered_steps = steps
    return plan


def _current_status(step: PaymentPlanStep) -> str:
    with commune_context(step.commune):
        attempt = PaymentAttempt.objects.filter(pk=step.attempt_id).first() if step.attempt_id else None
        if attempt is not None and attempt.status == PaymentAttempt.Status.PAID:
            return Status.PAID
        if not _still_due(step):
            return Status.DROPPED
        if attempt is None:
            return Status.TO_PAY
        return Status.FAILED if attempt.status in _FAILED else Status.IN_PROGRESS


def _still_due(step: PaymentPlanStep) -> bool:
    if step.cart_id:
        cart = Cart.objects.filter(pk=step.cart_id, status=Cart.Status.AWAITING_PAYMENT).first()
        return cart is not None and step.regie_id in payments.held_by_regie(cart)
    return Invoice.objects.filter(pk__in=step.invoice_ids, status=Invoice.Status.ISSUED).exists()


def next_step(plan: PaymentPlan) -> PaymentPlanStep | None:
    """The first step not tried yet, else the first one still unfinished."""
    steps = plan.ordered_steps
    return next((s for s in steps if s.status == Status.TO_PAY), None) or next(
        (s for s in steps if s.open), None
    )


def start_step(*, plan: PaymentPlan, step: PaymentPlanStep, scope: FamilyScope, account: Account) -> str:
    """Open (or reopen, after a failure) the step's checkout; returns the provider's URL."""
    if not step.open:
        raise FoyerError("step_done", _("Cette étape est déjà réglée."), status=409)
    if not step.commune.is_active:
        raise FoyerError("suspended", _("Cette commune est suspendue : le paiement en ligne y est fermé."))
    with commune_context(step.commune):
        if step.cart_id:
            attempt = payments.start_cart_checkout(
                family_ids=scope.family_ids, account=account, cart_id=step.cart_id, regie_id=step.regie_id
            )
        else:
            due = list(
                Invoice.objects.filter(pk__in=step.invoice_ids, status=Invoice.Status.ISSUED).values_list(
                    "pk", flat=True
                )
            )
            attempt = payments.start_invoice_checkout(
                family_ids=scope.family_ids, account=account, invoice_ids=due
            )
    PaymentPlanStep.objects.filter(pk=step.pk).update(
        attempt_id=attempt.pk, status=Status.IN_PROGRESS, amount=attempt.amount
    )
    return attempt.checkout_url


def drop_plan(plan: PaymentPlan) -> None:
    """The family stops: what is paid stays paid, the rest goes back to "Mes factures"."""
    PaymentPlan.objects.filter(pk=plan.pk, closed_at__isnull=True).update(closed_at=timezone.now())


def paid_total(plan: PaymentPlan) -> Decimal:
    return sum((step.amount for step in plan.ordered_steps if step.status == Status.PAID), Decimal("0.00"))
