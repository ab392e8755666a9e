from django.urls import path

from . import api

urlpatterns = [
    path("panier/articles/", api.CartItemsView.as_view(), name="api_cart_items"),
    path("panier/articles/<int:item_id>/", api.CartItemView.as_view(), name="api_cart_item"),
    path(
        "reservations/<int:booking_id>/annuler/", api.BookingCancelView.as_view(), name="api_booking_cancel"
    ),
]
