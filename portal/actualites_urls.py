"""Family pages for news on the platform (namespace actualites): one feed of all communes."""

from django.urls import path

from . import actualites_views as views

urlpatterns = [
    path("", views.feed, name="feed"),
    path("tout-lu/", views.mark_all_read, name="mark_all_read"),
]
