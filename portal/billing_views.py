"""Family pages for invoices: "Mes factures" across communes, one invoice's detail, hiding."""

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
from billing.selectors import get_family_invoice
from family.router import family_invoice_lists, get_family_scope, get_family_scope_in
from foyer.errors import FoyerError


@login_required
def invoices(request: HttpRequest) -> HttpResponse:
    scope = get_family_scope(request.user)
    return render(
        request,
        "portal/billing/invoices.html",
        {
            "lists": family_invoice_lists(scope=scope),
            "suspended": scope.suspended_communes,
            "show_hidden": request.GET.get("masquees") == "1",
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
    """ "Payer les factures sélectionnées": one checkout per commune, said before starting."""
    lists = family_invoice_lists(scope=get_family_scope(request.user))
    chosen = set(request.POST.getlist("invoices"))
    selected = [invoice for invoice in lists.to_pay if invoice.key in chosen]
    if not selected:
        messages.error(request, _("Sélectionnez au moins une facture à payer."))
        return redirect("portal:invoices")
    plan: dict = {}
    for invoice in selected:
        plan.setdefault(invoice.commune, []).append(invoice)
    steps = [
        {
            "commune": commune,
            "invoices": invoices,
            "total": sum(i.amount_due for i in invoices),
            "online": invoices[0].online_payment,
        }
        for commune, invoices in plan.items()
    ]
    return render(request, "portal/billing/pay.html", {"steps": steps})


@login_required
@require_POST
def invoices_checkout(request: HttpRequest) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    ids = [int(v) for v in request.POST.getlist("invoices") if v.isdecimal()]
    try:
        attempt = payments.start_invoice_checkout(
            family_ids=scope.family_ids, account=request.user, invoice_ids=ids
        )
    except FoyerError as error:
        messages.error(request, error.message)
        return redirect("portal:invoices")
    return redirect(attempt.checkout_url)


@login_required
@require_POST
def cart_checkout(request: HttpRequest, cart_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    try:
        attempt = payments.start_cart_checkout(
            family_ids=scope.family_ids, account=request.user, cart_id=cart_id
        )
    except FoyerError as error:
        messages.error(request, error.message)
        return redirect("portal:week")
    return redirect(attempt.checkout_url)


@login_required
def payment_return(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Where the provider sends the family back: never the proof of payment, but if the
    webhook has not arrived yet, ask the provider now."""
    scope = get_family_scope_in(request.user, request.commune)
    attempt = payments.get_family_attempt(family_ids=scope.family_ids, attempt_id=attempt_id)
    if attempt.status not in PaymentAttempt.FINAL:
        try:
            attempt = payments.sync_attempt(attempt_id=attempt.pk, source="return")
        except ProviderUnavailable:
            pass
    return render(request, "portal/billing/payment_return.html", {"attempt": attempt})


@csrf_exempt
@require_POST
def payment_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Mollie's notification: answered 200 at once, for unknown ids too."""
    payments.handle_webhook(token=token, provider_id=request.POST.get("id", ""))
    return HttpResponse(status=200)


@login_required
def invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    from billing.pdf import invoice_pdf_response

    scope = get_family_scope_in(request.user, request.commune)
    invoice = get_family_invoice(family_ids=scope.family_ids, invoice_id=invoice_id)
    return invoice_pdf_response(invoice=invoice, commune=request.commune)
