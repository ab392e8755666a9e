from django.urls import path

from . import api

urlpatterns = [
    path("", api.ProfileView.as_view(), name="api_profile"),
    path("familles/<int:family_id>/", api.FamilyView.as_view(), name="api_profile_family"),
    path("familles/<int:family_id>/adresse/", api.AddressView.as_view(), name="api_profile_address"),
    path("preferences/", api.PreferencesView.as_view(), name="api_profile_preferences"),
]
