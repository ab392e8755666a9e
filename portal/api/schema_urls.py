"""The family API as its OpenAPI schema describes it: the platform's /api/ and one commune's
/c/{slug}/api/ (served per commune by tenants.middleware.commune_urlconf). Only read by
drf-spectacular (SPECTACULAR_SETTINGS["SERVE_URLCONF"]); the régie API has its own keys and
is not part of it."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("portal.api.urls")),
    path("c/<slug:slug>/api/", include("portal.api.commune_urls")),
]
