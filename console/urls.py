from django.urls import include, path

from . import dossier_views, import_views, join_views, onboarding_views, views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("familles/", views.family_list, name="family_list"),
    path("familles/nouvelle/", views.family_create, name="family_create"),
    path("familles/import/", import_views.family_import, name="family_import"),
    path("familles/import/<slug:token>/", import_views.family_import_preview, name="family_import_preview"),
    path(
        "familles/import/<slug:token>/importer/",
        import_views.family_import_confirm,
        name="family_import_confirm",
    ),
    path(
        "familles/import/<slug:token>/resultat/",
        import_views.family_import_result,
        name="family_import_result",
    ),
    path(
        "familles/import/<slug:token>/activation/",
        import_views.family_import_invitations,
        name="family_import_invitations",
    ),
    path("familles/activation/", import_views.family_bulk_activation, name="family_bulk_activation"),
    path("familles/<int:membership_id>/", views.family_detail, name="family_detail"),
    path("adhesions/", join_views.join_request_list, name="join_request_list"),
    path("adhesions/<int:request_id>/", join_views.join_request_detail, name="join_request_detail"),
    path("familles/<int:membership_id>/famille/", dossier_views.dossier_family, name="dossier_family"),
    path(
        "familles/<int:membership_id>/responsables/ajouter/",
        dossier_views.dossier_guardian,
        name="dossier_guardian_add",
    ),
    path(
        "familles/<int:membership_id>/responsables/<int:guardian_id>/",
        dossier_views.dossier_guardian,
        name="dossier_guardian_edit",
    ),
    path(
        "familles/<int:membership_id>/enfants/ajouter/", dossier_views.dossier_child, name="dossier_child_add"
    ),
    path(
        "familles/<int:membership_id>/enfants/<int:child_id>/",
        dossier_views.dossier_child,
        name="dossier_child_edit",
    ),
    path(
        "familles/<int:membership_id>/activation/",
        views.family_send_activation,
        name="family_send_activation",
    ),
    path("equipe/", views.staff, name="staff"),
    path("reglages/", views.booking_settings, name="booking_settings"),
    path("mise-en-service/", onboarding_views.onboarding, name="onboarding"),
    path("mise-en-service/ouvrir/", onboarding_views.onboarding_open, name="onboarding_open"),
    path("identite/", onboarding_views.identity, name="identity"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("", include("console.reservation_urls")),
    path("", include("console.billing_urls")),
    path("demandes/", include("console.demandes_urls")),
    path("actualites/", include("console.actualites_urls")),
    path("journal/", include("console.audit_urls")),
]
