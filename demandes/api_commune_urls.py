from django.urls import path

from . import api

urlpatterns = [
    path("", api.SubmitView.as_view(), name="api_demandes_submit"),
    path("categories/", api.CategoriesView.as_view(), name="api_demandes_categories"),
    path("<int:request_id>/", api.DetailView.as_view(), name="api_demandes_detail"),
    path("<int:request_id>/reponses/", api.ReplyView.as_view(), name="api_demandes_reply"),
    path("<int:request_id>/annuler/", api.CancelView.as_view(), name="api_demandes_cancel"),
]
