"""The API's URLs in one commune, under /c/<slug>/api/."""

from django.urls import path

from . import actualites, demandes, reservations

urlpatterns = [
    path("panier/articles/", reservations.CartItemsView.as_view(), name="api_cart_items"),
    path("panier/articles/<int:item_id>/", reservations.CartItemView.as_view(), name="api_cart_item"),
    path(
        "reservations/<int:booking_id>/annuler/",
        reservations.BookingCancelView.as_view(),
        name="api_booking_cancel",
    ),
    path("demandes/", demandes.SubmitView.as_view(), name="api_demandes_submit"),
    path("demandes/categories/", demandes.CategoriesView.as_view(), name="api_demandes_categories"),
    path("demandes/<int:request_id>/", demandes.DetailView.as_view(), name="api_demandes_detail"),
    path("demandes/<int:request_id>/reponses/", demandes.ReplyView.as_view(), name="api_demandes_reply"),
    path("demandes/<int:request_id>/annuler/", demandes.CancelView.as_view(), name="api_demandes_cancel"),
    path("actualites/<int:item_id>/", actualites.ItemView.as_view(), name="api_news_item"),
    path("actualites/<int:item_id>/lu/", actualites.MarkReadView.as_view(), name="api_news_mark_read"),
]
