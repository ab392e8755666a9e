"""Console pages for billing, under facturation/."""

from django.urls import path

from . import billing_views as views
from . import regie_views

urlpatterns = [
    # Month-end invoicing (staff; issuing: commune administrators)
    path("facturation/", views.run_list, name="run_list"),
    path("facturation/preparer/", views.run_prepare, name="run_prepare"),
    path("facturation/<int:run_id>/", views.run_detail, name="run_detail"),
    path("facturation/<int:run_id>/emission/", views.run_issue, name="run_issue"),
    # Invoices and payments (staff)
    path("facturation/factures/<int:invoice_id>/", views.invoice_detail, name="invoice_detail"),
    path("facturation/factures/<int:invoice_id>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path(
        "facturation/factures/<int:invoice_id>/avoir/", views.invoice_credit_note, name="invoice_credit_note"
    ),
    path(
        "facturation/factures/<int:invoice_id>/avoir/<int:credit_note_id>/remboursement/",
        views.credit_note_refund,
        name="credit_note_refund",
    ),
    path("facturation/paiements/", views.payment_list, name="payment_list"),
    path("facturation/recus/<int:receipt_id>/pdf/", views.receipt_pdf, name="receipt_pdf"),
    path("facturation/avoirs/<int:credit_note_id>/pdf/", views.credit_note_pdf, name="credit_note_pdf"),
    path("facturation/paiements-en-ligne/", views.online_payments, name="online_payments"),
    path(
        "facturation/paiements-en-ligne/<int:attempt_id>/remboursement/",
        views.online_payment_refund,
        name="online_payment_refund",
    ),
    # The régies (commune administrators)
    path("facturation/regies/", views.regie_list, name="regie_list"),
    path("facturation/regies/nouvelle/", views.regie_edit, name="regie_create"),
    path("facturation/regies/<int:regie_id>/", views.regie_edit, name="regie_edit"),
    path("facturation/regies/<int:regie_id>/import/", regie_views.invoice_import, name="invoice_import"),
    path(
        "facturation/regies/<int:regie_id>/import/<slug:token>/",
        regie_views.invoice_import_preview,
        name="invoice_import_preview",
    ),
    path("facturation/regies/<int:regie_id>/cles-api/", regie_views.api_tokens, name="api_tokens"),
    path(
        "facturation/regies/<int:regie_id>/cles-api/<int:token_id>/revoquer/",
        regie_views.api_token_revoke,
        name="api_token_revoke",
    ),
    path("facturation/regies/<int:regie_id>/paiements/", regie_views.payments_export, name="payments_export"),
    path("facturation/regies/<int:regie_id>/signature/", views.regie_signature, name="regie_signature"),
    # The yearly attestations of payments (commune administrators)
    path("facturation/attestations/", views.attestation_runs, name="attestation_runs"),
    path("facturation/regies/<int:regie_id>/prelevements/", regie_views.direct_debits, name="direct_debits"),
]
