"""Family pages across communes (/demandes/, namespace "demandes")."""

from django.urls import path

from . import demandes_views as views

urlpatterns = [
    path("", views.history, name="history"),
    path("nouvelle/", views.choose, name="new"),
]
