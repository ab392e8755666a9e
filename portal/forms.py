from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from foyer import rate_limits
from shared_identity import notifications
from shared_identity.forms import StaffAccountForm


class LoginForm(auth_forms.AuthenticationForm):
    username = forms.EmailField(
        label=_("Adresse e-mail"), widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    error_messages = {
        "invalid_login": _("Adresse e-mail ou mot de passe incorrect."),
        "inactive": _("Ce compte est désactivé."),
    }


class PasswordResetForm(auth_forms.PasswordResetForm):
    email = forms.EmailField(
        label=_("Adresse e-mail"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def save(self, *args, **kwargs):
        # One reset e-mail per address every few minutes; the page says the same either way.
        if rate_limits.email_allowed("password_reset", self.cleaned_data["email"]):
            super().save(*args, **kwargs)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        # The link is built on FOYER_BASE_URL, never on the request's Host header.
        link = settings.FOYER_BASE_URL + reverse(
            "portal:password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]}
        )
        # Sent by a Celery task after commit, like every e-mail of Foyer.
        notifications.send_after_commit("password_reset", {"link": link}, to=[to_email])


class ActivationForm(StaffAccountForm):
    """A guardian's first visit: the profile, the family's address and a password."""

    address_line = forms.CharField(
        label=_("Adresse"),
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    postcode = forms.CharField(
        label=_("Code postal"),
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    city = forms.CharField(
        label=_("Ville"),
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )

    field_order = ["first_name", "last_name", "phone", "address_line", "postcode", "city"]


# --- The family profile and the account ("Informations profil", "Mon compte") -------------------


class FamilyForm(forms.Form):
    name = forms.CharField(
        label=_("Nom de la famille"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    home_phone = forms.CharField(
        label=_("Téléphone du domicile"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )


class AddressChangeForm(forms.Form):
    address_line = forms.CharField(
        label=_("Adresse"), max_length=255, widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    postcode = forms.CharField(
        label=_("Code postal"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    city = forms.CharField(
        label=_("Ville"), max_length=120, widget=forms.TextInput(attrs={"autocomplete": "address-level2"})
    )
    # Required by the service (one message for the page and the API).
    proof = forms.FileField(
        label=_("Justificatif de domicile"),
        required=False,
        help_text=_(
            "Facture d'énergie, quittance de loyer… de moins de 3 mois : PDF, JPEG ou PNG, 5 Mo au plus."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"}),
    )


class GuardianInvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Adresse e-mail de l'autre responsable"),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Nom de la clé"),
        max_length=120,
        help_text=_("Ce qui l'utilisera, par exemple « Mon tableur »."),
    )


class EmailChangeForm(forms.Form):
    new_email = forms.EmailField(
        label=_("Nouvelle adresse e-mail"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Mot de passe actuel"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AccountDeletionForm(forms.Form):
    password = forms.CharField(
        label=_("Mot de passe"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    # Checked by the service (one message for the page and the API).
    confirmed = forms.BooleanField(
        label=_("Je comprends que mon compte sera supprimé définitivement."), required=False
    )


# --- Two-factor authentication (portal.two_factor_views) ------------------------------------


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code de vérification"),
        max_length=20,
        help_text=_("Le code à 6 chiffres affiché par votre application, ou un code de secours."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class TwoFactorSetupForm(forms.Form):
    code = forms.CharField(
        label=_("Code à 6 chiffres affiché par l'application"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
    )


class TwoFactorDisableForm(forms.Form):
    password = forms.CharField(
        label=_("Mot de passe"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    code = forms.CharField(
        label=_("Code de vérification"),
        max_length=20,
        help_text=_("Le code à 6 chiffres affiché par votre application, ou un code de secours."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
