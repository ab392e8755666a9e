from django.urls import path

from . import views

app_name = "operators"

urlpatterns = [
    path("", views.commune_list, name="commune_list"),
    path("communes/nouvelle/", views.commune_create, name="commune_create"),
    path("communes/<int:commune_id>/suspendre/", views.commune_suspend, name="commune_suspend"),
    path("communes/<int:commune_id>/reactiver/", views.commune_reactivate, name="commune_reactivate"),
]
