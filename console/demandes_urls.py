"""Console pages for requests (/c/<slug>/console/demandes/, names "console:request_…")."""

from django.urls import path

from . import demandes_views as views

urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("<int:request_id>/", views.request_detail, name="request_detail"),
    path("<int:request_id>/statut/", views.request_status, name="request_status"),
    path("<int:request_id>/message/", views.request_message, name="request_message"),
    path("<int:request_id>/attribution/", views.request_assign, name="request_assign"),
    path("pieces/<int:attachment_id>/", views.request_attachment, name="request_attachment"),
    path("categories/", views.category_list, name="request_category_list"),
    path("categories/nouvelle/", views.category_form, name="request_category_create"),
    path("categories/<int:category_id>/", views.category_form, name="request_category_edit"),
]
