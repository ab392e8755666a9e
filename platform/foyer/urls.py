"""Public URLs: the family portal, sign-in, the operator console. Commune pages live under
/c/<slug>/ (foyer.urls_commune), selected by tenants.middleware.CommuneMiddleware."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", include("portal.urls")),
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("demandes/", include(("portal.demandes_urls", "demandes"))),
    path("actualites/", include(("portal.actualites_urls", "actualites"))),
    path("operateur/", include("operators.urls")),
    path("api/", include("portal.api.urls")),
]

handler404 = "portal.views.page_not_found"
handler403 = "portal.views.permission_denied"
handler500 = "portal.views.server_error"
