"""The API's platform URLs, under /api/: what spans all of a family's communes."""

from django.urls import path

from . import actualites, demandes, profile, reservations

urlpatterns = [
    path("reservations/semaine/", reservations.WeekView.as_view(), name="api_week"),
    path("panier/", reservations.CartView.as_view(), name="api_cart"),
    path("panier/valider/", reservations.CartValidateView.as_view(), name="api_cart_validate"),
    path("demandes/", demandes.FamilyRequestsView.as_view(), name="api_demandes_list"),
    path("actualites/", actualites.FeedView.as_view(), name="api_news_feed"),
    path("actualites/tout-lu/", actualites.MarkAllReadView.as_view(), name="api_news_mark_all_read"),
    path("profil/", profile.ProfileView.as_view(), name="api_profile"),
    path("profil/familles/<int:family_id>/", profile.FamilyView.as_view(), name="api_profile_family"),
    path(
        "profil/familles/<int:family_id>/adresse/", profile.AddressView.as_view(), name="api_profile_address"
    ),
    path("profil/preferences/", profile.PreferencesView.as_view(), name="api_profile_preferences"),
]
