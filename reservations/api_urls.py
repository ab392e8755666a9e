from django.urls import path

from . import api

urlpatterns = [
    path("reservations/semaine/", api.WeekView.as_view(), name="api_week"),
    path("panier/", api.CartView.as_view(), name="api_cart"),
    path("panier/valider/", api.CartValidateView.as_view(), name="api_cart_validate"),
]
