"""URLs of one commune, mounted under /c/<slug>/ by tenants.middleware.commune_urlconf."""

from django.urls import include, path

from portal import reservation_views
from portal import views as portal_views

commune_patterns = [
    path("", portal_views.commune_home, name="home"),
    path("activation/<str:token>/", portal_views.activation, name="activation"),
    path("panier/ajouter/", reservation_views.cart_add, name="cart_add"),
    path("panier/<int:item_id>/retirer/", reservation_views.cart_remove, name="cart_remove"),
    path("reservations/<int:booking_id>/annuler/", reservation_views.booking_cancel, name="booking_cancel"),
    path(
        "reservations/<int:booking_id>/demande-annulation/",
        reservation_views.cancellation_request,
        name="cancellation_request",
    ),
]

urlpatterns = [
    path("", include((commune_patterns, "commune"))),
    path("console/", include("console.urls")),
    path("api/", include("reservations.api_commune_urls")),
]
