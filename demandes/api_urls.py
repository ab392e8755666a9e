from django.urls import path

from . import api

urlpatterns = [
    path("", api.FamilyRequestsView.as_view(), name="api_demandes_list"),
]
