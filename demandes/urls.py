"""Family pages across communes (/demandes/, namespace "demandes")."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.history, name="history"),
    path("nouvelle/", views.choose, name="new"),
]
