"""URLs of one commune, mounted under /c/<slug>/ by tenants.middleware.commune_urlconf."""

from django.urls import include, path

from portal import billing_views, reservation_views
from portal import views as portal_views
from tenants import views as tenant_views

commune_patterns = [
    path("", portal_views.commune_home, name="home"),
    path("activation/<str:token>/", portal_views.activation, name="activation"),
    path("activation/<str:token>/nouveau-lien/", portal_views.activation_renewal, name="activation_renewal"),
    path("logo/", tenant_views.logo, name="logo"),
    path("mentions-legales/", tenant_views.legal_mentions, name="legal_mentions"),
    path("panier/ajouter/", reservation_views.cart_add, name="cart_add"),
    path("panier/ajouter-semaine/", reservation_views.cart_add_week, name="cart_add_week"),
    path("reservations/<int:booking_id>/absence/", reservation_views.cart_absence, name="cart_absence"),
    path("panier/<int:item_id>/retirer/", reservation_views.cart_remove, name="cart_remove"),
    path("reservations/<int:booking_id>/annuler/", reservation_views.booking_cancel, name="booking_cancel"),
    path("factures/<int:invoice_id>/", billing_views.invoice_detail, name="invoice_detail"),
    path("factures/<int:invoice_id>/pdf/", billing_views.invoice_pdf, name="invoice_pdf"),
    path("recus/<int:receipt_id>/pdf/", billing_views.receipt_pdf, name="receipt_pdf"),
    path("avoirs/<int:credit_note_id>/pdf/", billing_views.credit_note_pdf, name="credit_note_pdf"),
    path(
        "attestations/<int:family_id>/<int:year>/<slug:kind>/",
        billing_views.attestation_pdf,
        name="attestation_pdf",
    ),
    path(
        "factures/<int:invoice_id>/visibilite/", billing_views.invoice_visibility, name="invoice_visibility"
    ),
    path("panier/<int:cart_id>/paiement/", billing_views.cart_checkout, name="cart_checkout"),
    path("reservations/<int:booking_id>/paiement/", billing_views.booking_pay, name="booking_pay"),
    path("paiement/<int:attempt_id>/retour/", billing_views.payment_return, name="payment_return"),
    path("paiement/webhook/<str:token>/", billing_views.payment_webhook, name="payment_webhook"),
    path("prelevement/<int:regie_id>/", billing_views.mandate_start, name="mandate_start"),
    path("prelevement/retour/<int:attempt_id>/", billing_views.mandate_return, name="mandate_return"),
    path("prelevement/mandat/<int:mandate_id>/arreter/", billing_views.mandate_revoke, name="mandate_revoke"),
    path(
        "reservations/<int:booking_id>/demande-annulation/",
        reservation_views.cancellation_request,
        name="cancellation_request",
    ),
]

urlpatterns = [
    path("", include((commune_patterns, "commune"))),
    path("demandes/", include(("portal.demandes_commune_urls", "commune_demandes"))),
    path("actualites/", include(("portal.actualites_commune_urls", "commune_actualites"))),
    path("console/", include("console.urls")),
    path("api/regie/", include("console.regie_api_urls")),
    path("api/", include("portal.api.commune_urls")),
]
