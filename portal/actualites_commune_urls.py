"""News of one commune, under /c/<slug>/actualites/ (namespace commune_actualites)."""

from django.urls import path

from . import actualites_views as views

urlpatterns = [
    path("<int:item_id>/", views.detail, name="detail"),
    path("<int:item_id>/image/", views.image, name="image"),
]
