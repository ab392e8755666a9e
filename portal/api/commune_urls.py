"""The API's URLs in one commune, under /c/<slug>/api/."""

from django.urls import path

from . import actualites, billing, demandes, reservations

urlpatterns = [
    path("panier/articles/", reservations.CartItemsView.as_view(), name="api_cart_items"),
    path("panier/articles/<int:item_id>/", reservations.CartItemView.as_view(), name="api_cart_item"),
    path(
        "reservations/<int:booking_id>/annuler/",
        reservations.BookingCancelView.as_view(),
        name="api_booking_cancel",
    ),
    path("reservations/periode/", reservations.PeriodView.as_view(), name="api_period"),
    path(
        "reservations/<int:booking_id>/absence/",
        reservations.BookingAbsenceView.as_view(),
        name="api_booking_absence",
    ),
    path(
        "reservations/<int:booking_id>/demande-annulation/",
        reservations.CancellationRequestView.as_view(),
        name="api_cancellation_request",
    ),
    path("factures/<int:invoice_id>/", billing.InvoiceDetailView.as_view(), name="api_invoice"),
    path(
        "attestations/<int:family_id>/<int:year>/<slug:kind>/pdf/",
        billing.AttestationPdfView.as_view(),
        name="api_attestation_pdf",
    ),
    path("factures/<int:invoice_id>/pdf/", billing.InvoicePdfView.as_view(), name="api_invoice_pdf"),
    path(
        "factures/<int:invoice_id>/visibilite/",
        billing.InvoiceVisibilityView.as_view(),
        name="api_invoice_visibility",
    ),
    path("panier/<int:cart_id>/paiement/", billing.CartCheckoutView.as_view(), name="api_cart_checkout"),
    path("paiements/tentatives/<int:attempt_id>/", billing.AttemptView.as_view(), name="api_payment_attempt"),
    path("demandes/", demandes.SubmitView.as_view(), name="api_demandes_submit"),
    path("demandes/categories/", demandes.CategoriesView.as_view(), name="api_demandes_categories"),
    path("demandes/<int:request_id>/", demandes.DetailView.as_view(), name="api_demandes_detail"),
    path("demandes/<int:request_id>/reponses/", demandes.ReplyView.as_view(), name="api_demandes_reply"),
    path("demandes/<int:request_id>/annuler/", demandes.CancelView.as_view(), name="api_demandes_cancel"),
    path("actualites/<int:item_id>/", actualites.ItemView.as_view(), name="api_news_item"),
    path("actualites/<int:item_id>/lu/", actualites.MarkReadView.as_view(), name="api_news_mark_read"),
]
