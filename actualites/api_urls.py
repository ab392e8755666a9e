from django.urls import path

from . import api

urlpatterns = [
    path("", api.FeedView.as_view(), name="api_news_feed"),
    path("tout-lu/", api.MarkAllReadView.as_view(), name="api_news_mark_all_read"),
]
