from django import forms
from django.utils.translation import gettext_lazy as _

from foyer.dates import DateField
from shared_identity.models import StaffRole


class FamilyDossierForm(forms.Form):
    family_name = forms.CharField(label=_("Nom de la famille"), max_length=150)
    dossier_number = forms.CharField(
        label=_("Numéro de dossier"),
        max_length=30,
        required=False,
        help_text=_("Laissez vide pour un numéro attribué automatiquement."),
    )
    guardian_first_name = forms.CharField(label=_("Prénom du responsable"), max_length=100)
    guardian_last_name = forms.CharField(label=_("Nom du responsable"), max_length=100)
    guardian_email = forms.EmailField(label=_("E-mail du responsable"))
    guardian_phone = forms.CharField(label=_("Téléphone du responsable"), max_length=30, required=False)


class ChildForm(forms.Form):
    first_name = forms.CharField(label=_("Prénom"), max_length=100)
    last_name = forms.CharField(label=_("Nom"), max_length=100)
    birth_date = DateField(label=_("Date de naissance"))


ChildFormSet = forms.formset_factory(ChildForm, extra=3, max_num=10, validate_max=True)


class StaffInvitationForm(forms.Form):
    email = forms.EmailField(label=_("Adresse e-mail"))
    role = forms.ChoiceField(label=_("Rôle"), choices=StaffRole.Role.choices)


class BookingSettingsForm(forms.Form):
    booking_hold_minutes = forms.IntegerField(
        label=_("Délai de paiement d'un panier (minutes)"),
        help_text=_("Les places d'un panier à payer restent bloquées ce temps-là, puis sont libérées."),
    )


class StaffTwoFactorRequirementForm(forms.Form):
    """Console, "Équipe" page (commune administrators)."""

    require_staff_2fa = forms.BooleanField(
        label=_("Exiger la double authentification pour toute l'équipe"),
        required=False,
        help_text=_(
            "Chaque membre de l'équipe devra saisir le code de son application à la connexion ; "
            "ceux qui ne l'ont pas encore activée seront invités à le faire avant d'entrer dans la console."
        ),
    )
