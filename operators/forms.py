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
    reason = forms.CharField(label=_("Motif affiché aux familles"), widget=forms.Textarea(attrs={"rows": 3}))
