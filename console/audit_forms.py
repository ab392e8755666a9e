from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from audit import registry
from audit.selectors import AuditFilters
from foyer.dates import DateField

VERB_CHOICES = [
    ("", _("Toutes")),
    ("create", _("Création")),
    ("update", _("Modification")),
    ("delete", _("Suppression")),
    ("operation", _("Opération groupée ou de l'opérateur")),
]


def _date(label) -> forms.DateField:
    return DateField(label=label, required=False)


class AuditFilterForm(forms.Form):
    """The log's search (the query string: ?q=…&auteur=…&action=…&objet=…&du=…&au=…)."""

    q = forms.CharField(label=_("Rechercher (résumé, objet, n°)"), required=False, max_length=200)
    auteur = forms.ChoiceField(label=_("Auteur"), required=False)
    action = forms.ChoiceField(label=_("Type d'action"), required=False, choices=VERB_CHOICES)
    objet = forms.ChoiceField(label=_("Type d'objet"), required=False)
    du = _date(_("Du"))
    au = _date(_("Au"))

    def __init__(self, *args, actors: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["auteur"].choices = [("", _("Tous"))] + [(label, label) for label in actors]
        self.fields["objet"].choices = [("", _("Tous"))] + registry.type_choices()
        self.fields["q"].widget.attrs["type"] = "search"

    def clean(self):
        data = super().clean()
        if data.get("du") and data.get("au") and data["du"] > data["au"]:
            self.add_error("au", _("La date de fin précède la date de début."))
        return data

    def filters(self) -> AuditFilters:
        """What to filter on: the valid fields (an invalid one is shown with its error, and
        left out of the search)."""
        data = getattr(self, "cleaned_data", {}) if self.is_bound else {}
        return AuditFilters(
            text=(data.get("q") or "").strip(),
            actor=data.get("auteur") or "",
            verb=data.get("action") or "",
            object_type=data.get("objet") or "",
            start=data.get("du"),
            end=data.get("au") if "au" not in self.errors else None,
        )
