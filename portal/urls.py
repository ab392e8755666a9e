from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import account_views, billing_views, forms, join_views, reservation_views, two_factor_views, views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reservations/", reservation_views.week, name="week"),
    path("reservations/periode/", reservation_views.period, name="period"),
    path("panier/", reservation_views.cart, name="cart"),
    path("panier/valider/", reservation_views.cart_validate, name="cart_validate"),
    path("panier/valide/", reservation_views.cart_validated, name="cart_validated"),
    path("factures/", billing_views.invoices, name="invoices"),
    path("factures/payer/", billing_views.invoices_pay, name="invoices_pay"),
    path("factures/recus/", billing_views.documents, name="documents"),
    path("factures/attestations/", billing_views.attestations, name="attestations"),
    path("paiements/<int:plan_id>/", billing_views.payment_plan, name="payment_plan"),
    path(
        "paiements/<int:plan_id>/continuer/",
        billing_views.payment_plan_continue,
        name="payment_plan_continue",
    ),
    path("paiements/<int:plan_id>/arreter/", billing_views.payment_plan_drop, name="payment_plan_drop"),
    path("compte/", account_views.account, name="account"),
    path("compte/communes/adherer/", join_views.join, name="join"),
    path("compte/communes/adherer/<int:request_id>/retirer/", join_views.join_cancel, name="join_cancel"),
    path("compte/profil/", account_views.profile, name="profile"),
    path("compte/profil/identite/", account_views.profile_identity, name="profile_identity"),
    path("compte/profil/famille/<int:family_id>/", account_views.profile_family, name="profile_family"),
    path(
        "compte/profil/famille/<int:family_id>/adresse/",
        account_views.profile_address,
        name="profile_address",
    ),
    path(
        "compte/profil/famille/<int:family_id>/responsable/",
        account_views.guardian_invite,
        name="guardian_invite",
    ),
    path(
        "compte/profil/famille/<int:family_id>/responsable/annuler/",
        account_views.guardian_invite_cancel,
        name="guardian_invite_cancel",
    ),
    path("famille/invitation/<str:token>/", account_views.guardian_invitation, name="guardian_invitation"),
    path("compte/email/", account_views.email_change, name="email_change"),
    path("compte/email/annuler/", account_views.email_change_cancel, name="email_change_cancel"),
    path(
        "compte/email/confirmer/<str:token>/", account_views.email_change_confirm, name="email_change_confirm"
    ),
    path("compte/donnees/", account_views.data_export_request, name="data_export_request"),
    path("compte/donnees/<int:export_id>/", account_views.data_export_download, name="data_export_download"),
    path("compte/cles-api/", account_views.api_token_create, name="api_token_create"),
    path("compte/cles-api/<int:token_id>/revoquer/", account_views.api_token_revoke, name="api_token_revoke"),
    path("compte/suppression/", account_views.account_deletion, name="account_deletion"),
    path(
        "compte/suppression/annuler/", account_views.account_deletion_cancel, name="account_deletion_cancel"
    ),
    path("compte/calendrier/<int:family_id>/", account_views.calendar_link, name="calendar_link"),
    path("calendrier/<str:token>.ics", account_views.calendar_feed, name="calendar_feed"),
    path(
        "connexion/",
        two_factor_views.LoginView.as_view(
            template_name="portal/login.html",
            authentication_form=forms.LoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("connexion/verification/", two_factor_views.two_factor_verify, name="two_factor_verify"),
    path(
        "compte/securite/double-authentification/",
        two_factor_views.two_factor_setup,
        name="two_factor_setup",
    ),
    path(
        "compte/securite/double-authentification/codes/",
        two_factor_views.two_factor_backup_codes,
        name="two_factor_backup_codes",
    ),
    path(
        "compte/securite/double-authentification/codes/nouveaux/",
        two_factor_views.two_factor_regenerate,
        name="two_factor_regenerate",
    ),
    path(
        "compte/securite/double-authentification/desactiver/",
        two_factor_views.two_factor_disable,
        name="two_factor_disable",
    ),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "mot-de-passe/oubli/",
        auth_views.PasswordResetView.as_view(
            template_name="portal/password_reset.html",
            form_class=forms.PasswordResetForm,
            email_template_name="emails/password_reset.txt",
            subject_template_name="emails/password_reset_subject.txt",
            success_url=reverse_lazy("portal:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "mot-de-passe/oubli/envoye/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/reinitialiser/<uidb64>/<token>/",
        two_factor_views.PasswordResetConfirmView.as_view(
            template_name="portal/password_reset_confirm.html",
            success_url=reverse_lazy("portal:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/reinitialise/",
        auth_views.PasswordResetCompleteView.as_view(template_name="portal/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path(
        "mot-de-passe/changer/",
        auth_views.PasswordChangeView.as_view(
            template_name="portal/password_change.html",
            success_url=reverse_lazy("portal:password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "mot-de-passe/change/",
        auth_views.PasswordChangeDoneView.as_view(template_name="portal/password_change_done.html"),
        name="password_change_done",
    ),
]
