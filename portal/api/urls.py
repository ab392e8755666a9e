"""The API's platform URLs, under /api/: what spans all of a family's communes."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from . import account, actualites, billing, demandes, profile, reservations

urlpatterns = [
    path("reservations/semaine/", reservations.WeekView.as_view(), name="api_week"),
    path("panier/", reservations.CartView.as_view(), name="api_cart"),
    path("panier/valider/", reservations.CartValidateView.as_view(), name="api_cart_validate"),
    path("demandes/", demandes.FamilyRequestsView.as_view(), name="api_demandes_list"),
    path("actualites/", actualites.FeedView.as_view(), name="api_news_feed"),
    path("actualites/tout-lu/", actualites.MarkAllReadView.as_view(), name="api_news_mark_all_read"),
    path("profil/", profile.ProfileView.as_view(), name="api_profile"),
    path("profil/familles/<int:family_id>/", profile.FamilyView.as_view(), name="api_profile_family"),
    path(
        "profil/familles/<int:family_id>/adresse/", profile.AddressView.as_view(), name="api_profile_address"
    ),
    path("profil/preferences/", profile.PreferencesView.as_view(), name="api_profile_preferences"),
    path("annulations/", reservations.FamilyCancellationsView.as_view(), name="api_cancellations"),
    path("factures/", billing.InvoicesView.as_view(), name="api_invoices"),
    path("attestations/", billing.AttestationsView.as_view(), name="api_attestations"),
    path("paiements/", billing.PayInvoicesView.as_view(), name="api_pay_invoices"),
    path("paiements/<int:plan_id>/", billing.PaymentPlanView.as_view(), name="api_payment_plan"),
    path(
        "paiements/<int:plan_id>/continuer/",
        billing.PaymentPlanContinueView.as_view(),
        name="api_payment_plan_continue",
    ),
    path(
        "paiements/<int:plan_id>/arreter/",
        billing.PaymentPlanDropView.as_view(),
        name="api_payment_plan_drop",
    ),
    path("compte/cles/", account.TokensView.as_view(), name="api_tokens"),
    path("compte/cles/<int:token_id>/", account.TokenView.as_view(), name="api_token"),
    path("compte/donnees/", account.DataExportsView.as_view(), name="api_data_exports"),
    path("compte/donnees/<int:export_id>/", account.DataExportView.as_view(), name="api_data_export"),
    path(
        "compte/donnees/<int:export_id>/telecharger/",
        account.DataExportDownloadView.as_view(),
        name="api_data_export_download",
    ),
    path("compte/suppression/", account.AccountDeletionView.as_view(), name="api_account_deletion"),
    path("profil/familles/<int:family_id>/calendrier/", account.CalendarView.as_view(), name="api_calendar"),
    path(
        "profil/familles/<int:family_id>/invitation/",
        account.GuardianInvitationView.as_view(),
        name="api_guardian_invitation",
    ),
    # The OpenAPI schema of the family API and its documentation (Swagger UI, self-hosted).
    # Public: they describe the API, they hold no data.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api_schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", permission_classes=[AllowAny]),
        name="api_docs",
    ),
]
