"""Console pages for news, under /c/<slug>/console/actualites/ (names console:news_*)."""

from django.urls import path

from . import actualites_views as views

urlpatterns = [
    path("", views.news_list, name="news_list"),
    path("nouvelle/", views.news_create, name="news_create"),
    path("<int:item_id>/", views.news_edit, name="news_edit"),
    path("<int:item_id>/retrait/", views.news_delete, name="news_delete"),
]
