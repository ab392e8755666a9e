from django.urls import path

from . import api

urlpatterns = [
    path("<int:item_id>/", api.ItemView.as_view(), name="api_news_item"),
    path("<int:item_id>/lu/", api.MarkReadView.as_view(), name="api_news_mark_read"),
]
