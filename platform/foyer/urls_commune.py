"""URLs of one commune, mounted under /c/<slug>/ by tenants.middleware.commune_urlconf."""

from django.urls import include, path

from portal import views as portal_views

commune_patterns = [
    path("", portal_views.commune_home, name="home"),
    path("activation/<str:token>/", portal_views.activation, name="activation"),
]

urlpatterns = [
    path("", include((commune_patterns, "commune"))),
    path("console/", include("console.urls")),
]
