"""Family pages in one commune (/c/<slug>/demandes/, namespace "commune_demandes")."""

from django.urls import path

from . import demandes_views as views

urlpatterns = [
    path("", views.commune_index, name="index"),
    path("nouvelle/", views.commune_choose, name="new"),
    path("nouvelle/<slug:code>/", views.create, name="create"),
    path("<int:request_id>/", views.detail, name="detail"),
    path("<int:request_id>/repondre/", views.reply, name="reply"),
    path("<int:request_id>/annuler/", views.cancel, name="cancel"),
    path("pieces/<int:attachment_id>/", views.attachment, name="attachment"),
]
