"""The régie API's URLs in one commune, under /c/<slug>/api/regie/."""

from django.urls import path

from . import regie_api

urlpatterns = [
    path("factures/", regie_api.InvoicesView.as_view(), name="regie_api_invoices"),
    path("factures/<str:number>/", regie_api.InvoiceView.as_view(), name="regie_api_invoice"),
    path("factures/<str:number>/pdf/", regie_api.InvoicePdfView.as_view(), name="regie_api_invoice_pdf"),
    path("paiements/", regie_api.PaymentsView.as_view(), name="regie_api_payments"),
]
