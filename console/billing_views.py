"""Console pages for billing: the régie settings (commune administrators), the month-end
invoicing runs (preparing: staff; issuing: administrators), an invoice with its PDF and the
counter payment form, and the payments received (staff)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.forms.models import model_to_dict
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from billing import console_selectors as selectors
from billing import services
from billing.attestations import start_attestation_run
from billing.console_services import save_regie, set_regie_signature
from billing.models import Invoice, InvoicingRun, Regie
from billing.pdf import invoice_pdf_response, pdf_response, render_credit_note_pdf, render_receipt_pdf
from foyer.errors import FoyerError, NotFound, apply_errors
from foyer.formatting import format_money

from .access import staff_required
from .billing_forms import (
    AttestationRunForm,
    CounterPaymentForm,
    CreditNoteForm,
    PaymentFilterForm,
    PrepareRunForm,
    RefundForm,
    RegieForm,
    RegieSignatureForm,
)
from .reservation_views import _form_page

admin_only = staff_required(admin_only=True)


@admin_only
def regie_list(request: HttpRequest) -> HttpResponse:
    """The commune's régies, each with its services and how it is paid."""
    return render(request, "console/billing/regie_list.html", {"regies": selectors.list_regies()})


@admin_only
@require_http_methods(["GET", "POST"])
def regie_edit(request: HttpRequest, regie_id: int | None = None) -> HttpResponse:
    regie = selectors.get_regie(regie_id=regie_id) if regie_id else None
    # Not bound to the row: a refused form must not change the row shown beside it.
    initial = model_to_dict(regie, fields=RegieForm._meta.fields) if regie else None
    form = RegieForm(request.POST or None, initial=initial)
    return _form_page(
        request,
        form=form,
        save=lambda: save_regie(regie_id=regie_id, actor=request.user, **form.cleaned_data),
        success=lambda saved: _("Régie « %(name)s » enregistrée.") % {"name": saved.name},
        done="console:regie_list",
        page=lambda: render(request, "console/billing/regie_settings.html", {"form": form, "regie": regie}),
    )


@admin_only
@require_http_methods(["GET", "POST"])
def regie_signature(request: HttpRequest, regie_id: int) -> HttpResponse:
    """The régisseur's scanned signature, printed on the attestations of payments."""
    regie = selectors.get_regie(regie_id=regie_id)
    form = RegieSignatureForm(request.POST or None, request.FILES or None)
    return _form_page(
        request,
        form=form,
        save=lambda: set_regie_signature(
            regie_id=regie.pk,
            upload=form.cleaned_data["signature"],
            remove=form.cleaned_data["remove"],
            actor=request.user,
        ),
        success=lambda saved: (
            _("Signature de la régie « %(name)s » enregistrée.") % {"name": saved.name}
            if saved.signature
            else _("La régie « %(name)s » n'a plus de signature.") % {"name": saved.name}
        ),
        done=reverse("console:regie_edit", args=[regie.pk]),
        page=lambda: render(request, "console/billing/regie_signature.html", {"form": form, "regie": regie}),
    )


@admin_only
@require_http_methods(["GET", "POST"])
def attestation_runs(request: HttpRequest) -> HttpResponse:
    """ "Attestations de paiement": issue a year's to every family, and what past runs did."""
    form = AttestationRunForm(
        request.POST or None, today=timezone.localdate(timezone=ZoneInfo(request.commune.timezone))
    )
    return _form_page(
        request,
        form=form,
        save=lambda: start_attestation_run(
            year=form.cleaned_data["year"], resend=form.cleaned_data["resend"], actor=request.user
        ),
        success=lambda run: (
            _(
                "Les attestations %(year)s sont en préparation : le bilan s'affiche ci-dessous une fois l'envoi terminé."
            )
            % {"year": run.year}
        ),
        done="console:attestation_runs",
        page=lambda: render(
            request,
            "console/billing/attestation_runs.html",
            {"form": form, "runs": selectors.list_attestation_runs()},
        ),
    )


# --- Invoicing runs --------------------------------------------------------------------------------


def _prepare_form(request: HttpRequest) -> PrepareRunForm:
    """The month to invoice; last month (in the commune's time zone) by default."""
    return PrepareRunForm(
        request.POST or None, today=timezone.localdate(timezone=ZoneInfo(request.commune.timezone))
    )


def _runs_page(request: HttpRequest, form: PrepareRunForm) -> HttpResponse:
    return render(
        request,
        "console/billing/run_list.html",
        {"runs": selectors.list_invoicing_runs(), "form": form, "regies": Regie.objects.order_by("pk")},
    )


@staff_required
def run_list(request: HttpRequest) -> HttpResponse:
    """The runs, newest first, and the form that prepares one."""
    return _runs_page(request, _prepare_form(request))


@staff_required
@require_POST
def run_prepare(request: HttpRequest) -> HttpResponse:
    form = _prepare_form(request)
    if form.is_valid():
        try:
            run = services.prepare_invoicing_run(
                month=form.cleaned_data["month"],
                regie_id=getattr(form.cleaned_data["regie"], "pk", None),
                actor=request.user,
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            count = run.invoices.count()
            messages.success(
                request,
                ngettext(
                    "Facturation de %(month)s (%(regie)s) préparée : %(count)d facture en brouillon.",
                    "Facturation de %(month)s (%(regie)s) préparée : %(count)d factures en brouillon.",
                    count,
                )
                % {"month": date_format(run.period_start, "F Y"), "regie": run.regie.name, "count": count},
            )
            return redirect("console:run_detail", run_id=run.pk)
    return _runs_page(request, form)


@staff_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A draft: its invoices and journal, and the way to issue it; issued: its invoices."""
    run = selectors.get_invoicing_run(run_id=run_id)
    page = Paginator(selectors.list_run_invoices(run=run), 100).get_page(request.GET.get("page"))
    return render(request, "console/billing/run_detail.html", {"run": run, "page": page})


@admin_only
@require_http_methods(["GET", "POST"])
def run_issue(request: HttpRequest, run_id: int) -> HttpResponse:
    """GET: what will be issued, to confirm; POST: issue (numbers, e-mails)."""
    run = selectors.get_invoicing_run(run_id=run_id)
    if run.status != InvoicingRun.Status.DRAFT:
        return redirect("console:run_detail", run_id=run.pk)
    error = None
    if request.method == "POST":
        try:
            services.issue_invoicing_run(run_id=run.pk, actor=request.user)
        except FoyerError as exc:
            error = exc
        else:
            count = run.invoices.count()
            messages.success(
                request,
                ngettext(
                    "%(count)d facture émise ; la famille est prévenue par e-mail.",
                    "%(count)d factures émises ; les familles sont prévenues par e-mail.",
                    count,
                )
                % {"count": count},
            )
            return redirect("console:run_detail", run_id=run.pk)
    return render(request, "console/billing/run_issue.html", {"run": run, "error": error})


# --- Invoices --------------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Lines, payments and, while something is due, the counter payment form (the service
    refuses a payment on a draft or beyond what is due)."""
    invoice = selectors.get_invoice(invoice_id=invoice_id)
    form = CounterPaymentForm(request.POST or None)
    return _form_page(
        request,
        form=form,
        save=lambda: services.record_payment(invoice_id=invoice.pk, actor=request.user, **form.cleaned_data),
        success=lambda payment: (
            _("Paiement de %(amount)s enregistré (%(method)s).")
            % {"amount": format_money(payment.amount), "method": payment.get_method_display().lower()}
        ),
        done=reverse("console:invoice_detail", args=[invoice.pk]),
        page=lambda: render(
            request,
            "console/billing/invoice_detail.html",
            {"invoice": invoice, "form": form, "credit_form": CreditNoteForm()},
        ),
    )


@staff_required
def invoice_pdf(request: HttpRequest, invoice_id: int) -> FileResponse:
    invoice = selectors.get_invoice(invoice_id=invoice_id)
    if invoice.status == Invoice.Status.DRAFT:
        raise NotFound()
    return invoice_pdf_response(invoice=invoice, commune=request.commune)


@staff_required
def receipt_pdf(request: HttpRequest, receipt_id: int) -> FileResponse:
    receipt = selectors.get_receipt(receipt_id=receipt_id)
    return pdf_response(
        render_receipt_pdf(receipt=receipt, commune=request.commune), filename=f"recu-{receipt.reference}.pdf"
    )


@staff_required
def credit_note_pdf(request: HttpRequest, credit_note_id: int) -> FileResponse:
    note = selectors.get_credit_note(credit_note_id=credit_note_id)
    return pdf_response(
        render_credit_note_pdf(note=note, commune=request.commune), filename=f"avoir-{note.reference}.pdf"
    )


# --- Payments --------------------------------------------------------------------------------------


@staff_required
def payment_list(request: HttpRequest) -> HttpResponse:
    form = PaymentFilterForm(request.GET or None)
    method = form.cleaned_data["mode"] if form.is_valid() else ""
    payments = selectors.list_payments(method=method)
    return render(
        request,
        "console/billing/payment_list.html",
        {
            "form": form,
            "method": method,
            "page": Paginator(payments, 50).get_page(request.GET.get("page")),
            "total": selectors.total_amount(payments),
        },
    )


# --- Online payments: reconciliation and refunds ------------------------------------------------


@staff_required
def online_payments(request: HttpRequest) -> HttpResponse:
    """Every online payment attempt, those an agent must look at first (paid after expiry,
    overpaid, charged back, not matching)."""
    from django.db.models import Case, IntegerField, Value, When

    from billing.models import PaymentAttempt

    attempts = (
        PaymentAttempt.objects.select_related("family", "regie")
        .prefetch_related("invoices", "refunds")
        .annotate(
            needs_look=Case(When(flagged="", then=Value(1)), default=Value(0), output_field=IntegerField())
        )
        .order_by("needs_look", "-created_at")
    )
    page = Paginator(attempts, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "console/billing/online_payments.html",
        {
            "page": page,
            "refund_form": RefundForm(),
            "debit_regies": Regie.objects.filter(direct_debit_enabled=True),
        },
    )


@staff_required(admin_only=True)
@require_POST
def online_payment_refund(request: HttpRequest, attempt_id: int) -> HttpResponse:
    from billing.payments import refund_attempt

    form = RefundForm(request.POST)
    if form.is_valid():
        try:
            refund = refund_attempt(attempt_id=attempt_id, actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            messages.error(request, error.message)
        else:
            amount = {"amount": format_money(refund.amount)}
            if refund.outside_provider:
                messages.success(
                    request,
                    _(
                        "Remboursement de %(amount)s noté. PayFiP ne rembourse pas : la régie verse cette somme "
                        "à la famille elle-même, hors de Foyer (virement ou mandat du comptable public)."
                    )
                    % amount,
                )
            else:
                messages.success(request, _("Remboursement de %(amount)s demandé à Mollie.") % amount)
    else:
        messages.error(request, _("Indiquez un montant et un motif."))
    return redirect("console:online_payments")


@staff_required(admin_only=True)
@require_POST
def invoice_credit_note(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """An avoir on an issued invoice (which is never edited)."""
    form = CreditNoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Indiquez un montant et un motif."))
    else:
        try:
            note = services.issue_credit_note(invoice_id=invoice_id, actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            messages.error(request, " ".join([error.message, *sum(error.field_errors.values(), [])]))
        else:
            messages.success(
                request,
                _("Avoir de %(amount)s enregistré : il sera déduit de la prochaine facture.")
                % {"amount": format_money(note.amount)},
            )
    return redirect("console:invoice_detail", invoice_id=invoice_id)


@staff_required(admin_only=True)
@require_POST
def credit_note_refund(request: HttpRequest, invoice_id: int, credit_note_id: int) -> HttpResponse:
    from billing.payments import refund_credit_note

    try:
        refund = refund_credit_note(credit_note_id=credit_note_id, actor=request.user)
    except FoyerError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Avoir remboursé par Mollie : %(amount)s.") % {"amount": format_money(refund.amount)}
        )
    return redirect("console:invoice_detail", invoice_id=invoice_id)
