"""Family pages for invoices: "Mes factures" across communes, one invoice's detail, hiding,
receipts and credit notes, the yearly attestations of payments."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import payments, services
from billing.gateway import ProviderUnavailable
from billing.models import PaymentAttempt
from billing.selectors import (
    get_family_credit_note,
    get_family_invoice,
    get_family_receipt,
    held_cart_of_booking,
    held_cart_summary,
)
from family import payment_plans
from family.router import (
    family_id_in,
    family_invoice_lists,
    get_family_scope,
    get_family_scope_in,
    list_family_attestation_years,
    list_family_direct_debits,
    list_family_documents,
)
from foyer.errors import FoyerError, NotFound
from foyer.request_limits import request_body_limit


@login_required
def invoices(request: HttpRequest) -> HttpResponse:
    scope = get_family_scope(request.user)
    slugs = {commune.slug for commune in scope.communes}
    chosen = request.GET.get("commune", "")
    chosen = chosen if chosen in slugs else ""
    return render(
        request,
        "portal/billing/invoices.html",
        {
            "lists": family_invoice_lists(scope=scope, commune_slug=chosen),
            "communes": scope.communes,
            "chosen": chosen,
            "plans": payment_plans.open_plans(request.user),
            "suspended": scope.suspended_communes,
            "show_hidden": request.GET.get("masquees") == "1",
            "debits": list_family_direct_debits(scope=scope),
        },
    )


@login_required
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    invoice = get_family_invoice(family_ids=scope.family_ids, invoice_id=invoice_id)
    return render(request, "portal/billing/invoice_detail.html", {"invoice": invoice})


@login_required
@require_POST
def invoice_visibility(request: HttpRequest, invoice_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    hidden = request.POST.get("hidden") == "1"
    invoice = services.set_invoice_hidden(family_ids=scope.family_ids, invoice_id=invoice_id, hidden=hidden)
    if hidden:
        messages.success(request, _("La facture %(ref)s est masquée.") % {"ref": invoice.reference})
    else:
        messages.success(
            request, _("La facture %(ref)s est de nouveau visible.") % {"ref": invoice.reference}
        )
    return redirect("portal:invoices")


@login_required
@require_POST
def invoices_pay(request: HttpRequest) -> HttpResponse:
    """ "Payer les factures sélectionnées": one checkout per commune and régie, chained; the
    first one starts at once."""
    scope = get_family_scope(request.user)
    try:
        plan, offline = payment_plans.plan_invoices(
            scope=scope, account=request.user, keys=request.POST.getlist("invoices")
        )
    except FoyerError as error:
        messages.error(request, error.message)
        return redirect("portal:invoices")
    if offline:
        messages.info(request, payment_plans.offline_message(offline))
    return _start_next(request, scope, payment_plans.refresh(plan))


def _start_next(request: HttpRequest, scope, plan, step=None) -> HttpResponse:
    """Open the checkout of ``step`` (or the plan's next step); when it cannot start, the
    plan's page says why and offers to try again."""
    step = step or payment_plans.next_step(plan)
    if step is None:
        return redirect("portal:payment_plan", plan_id=plan.pk)
    try:
        return redirect(payment_plans.start_step(plan=plan, step=step, scope=scope, account=request.user))
    except FoyerError as error:
        messages.error(request, error.message)
        return redirect("portal:payment_plan", plan_id=plan.pk)


@login_required
def payment_plan(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = payment_plans.get_plan(account=request.user, plan_id=plan_id)
    return render(
        request,
        "portal/billing/payment_plan.html",
        {"plan": plan, "next": payment_plans.next_step(plan), "paid": payment_plans.paid_total(plan)},
    )


@login_required
@require_POST
def payment_plan_continue(request: HttpRequest, plan_id: int) -> HttpResponse:
    """ "Continuer" (the next step) or "Réessayer le paiement" (one step again)."""
    plan = payment_plans.get_plan(account=request.user, plan_id=plan_id)
    step_id = request.POST.get("step", "")
    step = None
    if step_id.isdecimal():
        step = next((s for s in plan.ordered_steps if s.pk == int(step_id)), None)
        if step is None:
            raise NotFound()
    return _start_next(request, get_family_scope(request.user), plan, step)


@login_required
@require_POST
def payment_plan_drop(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = payment_plans.get_plan(account=request.user, plan_id=plan_id)
    payment_plans.drop_plan(plan)
    messages.success(
        request,
        _(
            "Paiement arrêté : ce qui est payé est acquis, ce qui reste à payer vous attend dans « Mes factures »."
        ),
    )
    return redirect("portal:invoices")


@login_required
@require_POST
def cart_checkout(request: HttpRequest, cart_id: int) -> HttpResponse:
    """ "Payer" / "Réessayer le paiement" of a prepaid cart whose places are held."""
    return pay_carts(request, [(request.commune, cart_id)], fallback="portal:cart")


def pay_carts(request: HttpRequest, carts, *, fallback: str, quiet: bool = False) -> HttpResponse:
    """Straight to the checkout of held places: one régie, or the first of a plan."""
    plan = payment_plans.plan_carts(account=request.user, carts=carts)
    if plan is None:
        if not quiet:
            messages.error(
                request,
                _(
                    "Ces réservations ne se paient pas en ligne : leurs places sont déjà confirmées ou "
                    "libérées, ou elles se règlent au guichet de la régie."
                ),
            )
        return redirect(fallback)
    return _start_next(request, get_family_scope(request.user), payment_plans.refresh(plan))


@login_required
@require_POST
def booking_pay(request: HttpRequest, booking_id: int) -> HttpResponse:
    """ "Payer" on a held cell of the week: the cart that holds it."""
    scope = get_family_scope_in(request.user, request.commune)
    cart_id = held_cart_of_booking(family_ids=scope.family_ids, booking_id=booking_id)
    return pay_carts(request, [(request.commune, cart_id)], fallback="portal:week")


def _returned_attempt(scope, attempt_id: int) -> PaymentAttempt:
    """The family's attempt the provider sent it back from, asked about if the webhook has not
    come yet (never the proof of payment: a provider that does not answer leaves it as it is)."""
    attempt = payments.get_family_attempt(family_ids=scope.family_ids, attempt_id=attempt_id)
    if attempt.status not in PaymentAttempt.FINAL:
        try:
            attempt = payments.sync_attempt(attempt_id=attempt.pk, source="return")
        except (ProviderUnavailable, FoyerError):
            pass
    return attempt


@login_required
def payment_return(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Where the provider sends the family back: never the proof of payment, but if the
    webhook has not arrived yet, ask the provider now. Says what is paid and what is next."""
    scope = get_family_scope_in(request.user, request.commune)
    attempt = _returned_attempt(scope, attempt_id)
    plan = payment_plans.plan_of_attempt(account=request.user, commune=request.commune, attempt_id=attempt.pk)
    step = next((s for s in plan.ordered_steps if s.attempt_id == attempt.pk), None) if plan else None
    return render(
        request,
        "portal/billing/payment_return.html",
        {
            "attempt": attempt,
            "plan": plan,
            "step": step,
            "next": payment_plans.next_step(plan) if plan else None,
            "hold": held_cart_summary(attempt),
        },
    )


# Mollie posts a payment id (``id``) and nothing else; PayFiP its operation id (``idOp``).
@request_body_limit(16 * 1024)
@csrf_exempt
@require_POST
def payment_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """The provider's notification: answered 200 at once, for unknown ids too."""
    provider_id = request.POST.get("id") or request.POST.get("idOp") or ""
    payments.handle_webhook(token=token, provider_id=provider_id)
    return HttpResponse(status=200)


@login_required
def documents(request: HttpRequest) -> HttpResponse:
    """ "Mes reçus et avoirs": every commune's, under "Commune – Régie" headings."""
    scope = get_family_scope(request.user)
    return render(request, "portal/billing/documents.html", {"groups": list_family_documents(scope=scope)})


@login_required
def attestations(request: HttpRequest) -> HttpResponse:
    """ "Attestations": per commune, the years with payments, two documents a year."""
    from billing.attestations import KINDS

    scope = get_family_scope(request.user)
    return render(
        request,
        "portal/billing/attestations.html",
        {"entries": list_family_attestation_years(scope=scope), "kinds": KINDS.items()},
    )


@login_required
def attestation_pdf(request: HttpRequest, family_id: int, year: int, kind: str) -> HttpResponse:
    from billing.attestations import get_family_attestation
    from billing.pdf import pdf_response, render_attestation_pdf

    scope = get_family_scope_in(request.user, request.commune)
    attestation = get_family_attestation(
        family_ids=scope.family_ids, family_id=family_id, year=year, kind=kind
    )
    return pdf_response(render_attestation_pdf(attestation=attestation), filename=attestation.filename)


@login_required
def receipt_pdf(request: HttpRequest, receipt_id: int) -> HttpResponse:
    from billing.pdf import pdf_response, render_receipt_pdf

    scope = get_family_scope_in(request.user, request.commune)
    receipt = get_family_receipt(family_ids=scope.family_ids, receipt_id=receipt_id)
    return pdf_response(
        render_receipt_pdf(receipt=receipt, commune=request.commune), filename=f"recu-{receipt.reference}.pdf"
    )


@login_required
def credit_note_pdf(request: HttpRequest, credit_note_id: int) -> HttpResponse:
    from billing.pdf import pdf_response, render_credit_note_pdf

    scope = get_family_scope_in(request.user, request.commune)
    note = get_family_credit_note(family_ids=scope.family_ids, credit_note_id=credit_note_id)
    return pdf_response(
        render_credit_note_pdf(note=note, commune=request.commune), filename=f"avoir-{note.reference}.pdf"
    )


@login_required
def invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    from billing.pdf import invoice_pdf_response

    scope = get_family_scope_in(request.user, request.commune)
    invoice = get_family_invoice(family_ids=scope.family_ids, invoice_id=invoice_id)
    return invoice_pdf_response(invoice=invoice, commune=request.commune)


# --- Direct debit (prélèvement automatique) ------------------------------------------------------


@login_required
def mandate_start(request: HttpRequest, regie_id: int) -> HttpResponse:
    """ "Activer le prélèvement automatique" for one régie: what it means, then (POST) the
    provider's checkout of the first payment that signs the mandate."""
    from billing import direct_debit
    from billing.selectors import get_direct_debit_regie

    scope = get_family_scope_in(request.user, request.commune)
    regie = get_direct_debit_regie(regie_id=regie_id)
    if request.method == "POST":
        if request.POST.get("consent") != "1":
            messages.error(request, _("Cochez la case pour autoriser le prélèvement de vos factures."))
        else:
            try:
                attempt = direct_debit.start_mandate_signup(
                    family_id=family_id_in(scope, request.commune), account=request.user, regie_id=regie.pk
                )
            except FoyerError as error:
                messages.error(request, error.message)
            else:
                return redirect(attempt.checkout_url)
    return render(
        request,
        "portal/billing/mandate_start.html",
        {"regie": regie, "amount": direct_debit.FIRST_PAYMENT_AMOUNT},
    )


@login_required
def mandate_return(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Back from the checkout that signs the mandate: ask the provider if the webhook has not
    come yet, then say where things stand on "Mes factures"."""
    from billing.models import DebitMandate

    scope = get_family_scope_in(request.user, request.commune)
    attempt = _returned_attempt(scope, attempt_id)
    mandate = DebitMandate.objects.filter(first_attempt=attempt).first()
    if mandate is None:
        raise NotFound()
    if mandate.status == DebitMandate.Status.VALID:
        messages.success(
            request,
            _(
                "Prélèvement automatique activé (compte %(iban)s) : vos prochaines factures seront prélevées à l'échéance."
            )
            % {"iban": mandate.masked_iban},
        )
    elif mandate.status == DebitMandate.Status.PENDING and attempt.status == PaymentAttempt.Status.PAID:
        messages.info(request, _("Votre mandat est enregistré : il sera actif dans quelques instants."))
    elif mandate.status == DebitMandate.Status.PENDING and attempt.status not in PaymentAttempt.FINAL:
        messages.info(
            request, _("Nous attendons la confirmation de votre banque : revenez dans quelques minutes.")
        )
    else:
        messages.error(
            request, _("Le mandat n'a pas été signé : le paiement de vérification n'a pas abouti. Réessayez.")
        )
    return redirect("portal:invoices")


@login_required
def mandate_revoke(request: HttpRequest, mandate_id: int) -> HttpResponse:
    """ "Arrêter le prélèvement automatique": a confirmation, then (POST) the revocation."""
    from billing import direct_debit
    from billing.selectors import get_family_mandate

    scope = get_family_scope_in(request.user, request.commune)
    mandate = get_family_mandate(family_ids=scope.family_ids, mandate_id=mandate_id)
    if request.method == "POST":
        try:
            direct_debit.revoke_mandate(family_ids=scope.family_ids, mandate_id=mandate.pk)
        except FoyerError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _(
                    "Prélèvement automatique arrêté pour la régie « %(regie)s » : vos factures sont de nouveau à payer "
                    "en ligne ou au guichet."
                )
                % {"regie": mandate.regie.name},
            )
            return redirect("portal:invoices")
    return render(request, "portal/billing/mandate_revoke.html", {"mandate": mandate})
