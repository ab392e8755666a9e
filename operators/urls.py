from django.urls import path

from . import views

app_name = "operators"

urlpatterns = [
    path("", views.commune_list, name="commune_list"),
    path("sante/", views.health, name="health"),
    path("communes/nouvelle/", views.commune_create, name="commune_create"),
    path("communes/<int:commune_id>/", views.commune_detail, name="commune_detail"),
    path("communes/<int:commune_id>/suspendre/", views.commune_suspend, name="commune_suspend"),
    path("communes/<int:commune_id>/reactiver/", views.commune_reactivate, name="commune_reactivate"),
    path("communes/<int:commune_id>/domaine/", views.commune_domain, name="commune_domain"),
    path(
        "communes/<int:commune_id>/domaines/<int:domain_id>/retirer/",
        views.commune_domain_remove,
        name="commune_domain_remove",
    ),
]
