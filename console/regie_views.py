"""Console pages of one régie beyond its settings: importing the invoices of the commune's
own billing software (upload → preview → import), the keys of its API, and the export of the
payments it received for the commune's accounting."""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from billing import console_selectors as selectors
from billing import imports
from billing.console_services import create_api_token, revoke_api_token
from billing.models import Payment
from foyer.dates import DateField
from foyer.errors import FoyerError, apply_errors

from .access import staff_required

admin_only = staff_required(admin_only=True)


class InvoiceImportForm(forms.Form):
    fichier = forms.FileField(
        label=gettext_lazy("Fichier CSV des factures"),
        help_text=gettext_lazy("Une ligne par facture ou par ligne de facture ; séparateur « ; » ou « , »."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    pdfs = forms.FileField(
        label=gettext_lazy("Archive ZIP des PDF (facultatif)"),
        help_text=gettext_lazy("Un PDF par facture, nommé par son numéro : 2027-A4-00-78.pdf."),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def invoice_import(request: HttpRequest, regie_id: int) -> HttpResponse:
    regie = selectors.get_regie(regie_id=regie_id)
    form = InvoiceImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        archive = form.cleaned_data["pdfs"]
        try:
            if not regie.imported:
                imports.plan_import(regie=regie, invoices=[])  # says why not
            token = imports.store_upload(
                regie=regie,
                actor=request.user,
                csv_data=form.cleaned_data["fichier"].read(imports.SPEC.max_bytes + 1),
                zip_data=archive.read(imports.MAX_ZIP_BYTES + 1) if archive else b"",
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            return redirect("console:invoice_import_preview", regie_id=regie.pk, token=token)
    return render(
        request,
        "console/billing/invoice_import.html",
        {"regie": regie, "form": form, "columns": imports.COLUMNS, "template": imports.TEMPLATE},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def invoice_import_preview(request: HttpRequest, regie_id: int, token: str) -> HttpResponse:
    regie = selectors.get_regie(regie_id=regie_id)
    plan = imports.plan_stored(regie=regie, actor=request.user, token=token)
    error = None
    if request.method == "POST":
        try:
            created = imports.import_invoices(
                plan=plan, only_valid=request.POST.get("only_valid") == "1", actor=request.user
            )
        except FoyerError as exc:
            error = exc
        else:
            imports.forget_upload(regie=regie, actor=request.user, token=token)
            messages.success(
                request,
                ngettext(
                    "%(count)d facture importée ; la famille est prévenue par e-mail.",
                    "%(count)d factures importées ; les familles sont prévenues par e-mail.",
                    len(created),
                )
                % {"count": len(created)},
            )
            return redirect("console:regie_edit", regie_id=regie.pk)
    return render(
        request, "console/billing/invoice_import_preview.html", {"regie": regie, "plan": plan, "error": error}
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Nom de la clé"),
        max_length=120,
        help_text=gettext_lazy("Par exemple le nom du logiciel de facturation qui l'utilise."),
    )


@admin_only
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest, regie_id: int) -> HttpResponse:
    """The régie's API keys; a new key is shown once, on this page, right after it is made."""
    regie = selectors.get_regie(regie_id=regie_id)
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = create_api_token(
                regie_id=regie.pk, name=form.cleaned_data["name"], actor=request.user
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            created = {"token": token, "raw": raw}
            form = ApiTokenForm()
    return render(
        request,
        "console/billing/api_tokens.html",
        {"regie": regie, "form": form, "tokens": selectors.list_api_tokens(regie=regie), "created": created},
    )


@admin_only
@require_POST
def api_token_revoke(request: HttpRequest, regie_id: int, token_id: int) -> HttpResponse:
    regie = selectors.get_regie(regie_id=regie_id)
    token = revoke_api_token(regie_id=regie.pk, token_id=token_id, actor=request.user)
    messages.success(
        request, _("La clé « %(name)s » est révoquée : elle n'ouvre plus rien.") % {"name": token.name}
    )
    return redirect("console:api_tokens", regie_id=regie.pk)


class ExportForm(forms.Form):
    du = DateField(label=gettext_lazy("Du"), required=False)
    au = DateField(label=gettext_lazy("Au"), required=False)


EXPORT_HEADER = [
    "date",
    "recu",
    "mode",
    "reference_paiement",
    "payeur",
    "objet",
    "facture",
    "montant",
]


def receipt_rows(receipts) -> list[list[str]]:
    """One row per thing a payment settled (an invoice, or a prepaid booking), amounts with a
    decimal comma, dates in the commune's time."""
    methods = dict(Payment.Method.choices)
    rows = []
    for receipt in receipts:
        for item in receipt.items:
            rows.append(
                [
                    timezone.localtime(receipt.received_at).strftime("%d/%m/%Y %H:%M"),
                    receipt.reference,
                    str(methods.get(receipt.method, receipt.method)),
                    receipt.provider_reference,
                    receipt.payer_name,
                    item["label"],
                    item.get("invoice_reference", ""),
                    str(item["amount"]).replace(".", ","),
                ]
            )
    return rows


@staff_required
def payments_export(request: HttpRequest, regie_id: int) -> HttpResponse:
    """GET without dates: the form; with ``export=1``: the CSV."""
    regie = selectors.get_regie(regie_id=regie_id)
    form = ExportForm(request.GET or None)
    if request.GET.get("export") == "1" and form.is_valid():
        receipts = selectors.list_regie_receipts(
            regie=regie, since=form.cleaned_data["du"], until=form.cleaned_data["au"]
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow(EXPORT_HEADER)
        writer.writerows(receipt_rows(receipts))
        response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="paiements-{regie.regie_code}.csv"'
        return response
    return render(request, "console/billing/payments_export.html", {"regie": regie, "form": form})


@staff_required
def direct_debits(request: HttpRequest, regie_id: int) -> HttpResponse:
    """A régie's direct debit: the mandates, the debits to come and the failed ones."""
    regie = selectors.get_regie(regie_id=regie_id)
    return render(
        request,
        "console/billing/direct_debits.html",
        {"regie": regie, "overview": selectors.direct_debit_overview(regie=regie)},
    )
