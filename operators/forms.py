from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import Commune


class ProvisionCommuneForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=120)
    slug = forms.CharField(label=_("Identifiant (adresse /c/…/)"), max_length=50)
    kind = forms.ChoiceField(label=_("Type"), choices=Commune.Kind.choices)
    insee_code = forms.CharField(label=_("Code INSEE"), max_length=5, required=False)
    admin_email = forms.EmailField(label=_("E-mail du premier administrateur"))
    domain = forms.CharField(label=_("Domaine personnalisé (facultatif)"), max_length=253, required=False)


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=_("Motif affiché aux familles"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Indiquez le motif de la suspension : il est affiché aux familles.")},
    )


class CommuneSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Rechercher"),
        required=False,
        max_length=120,
        help_text=_("Nom, identifiant, code INSEE ou domaine."),
    )
    statut = forms.ChoiceField(
        label=_("Statut"), required=False, choices=[("", _("Tous"))] + list(Commune.Status.choices)
    )


class DomainForm(forms.Form):
    # Validated by tenants.validation.clean_hostname (one place for the rules and the messages).
    domain = forms.CharField(
        label=_("Nouveau domaine principal"),
        required=False,
        help_text=_(
            "Par exemple famille.jolieville.fr. Un visiteur de ce domaine est redirigé vers l'adresse "
            "de la commune sur Foyer ; faites pointer le domaine (DNS) vers la plateforme."
        ),
    )
    keep_previous = forms.BooleanField(
        label=_("Garder les domaines actuels comme redirections secondaires"), required=False
    )
