from django import forms
from django.utils.translation import gettext_lazy as _

from foyer.dates import DateField

WEEKDAY_CHOICES = [
    (0, _("lundi")),
    (1, _("mardi")),
    (2, _("mercredi")),
    (3, _("jeudi")),
    (4, _("vendredi")),
    (5, _("samedi")),
    (6, _("dimanche")),
]


class CartItemForm(forms.Form):
    child = forms.IntegerField(min_value=1)
    prestation = forms.IntegerField(min_value=1)
    site = forms.IntegerField(min_value=1)
    date = DateField(input_formats=["%Y-%m-%d"])


class AbsenceForm(forms.Form):
    """What the cart asks when absences pass the cancellation deadline: one reason and one
    certificate for the whole request."""

    absence_reason = forms.CharField(
        label=_("Motif de l'absence"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )
    certificate = forms.FileField(
        label=_("Justificatif (certificat médical…)"),
        required=False,
        help_text=_("PDF, JPEG ou PNG, 5 Mo au plus."),
    )


class WeekItemForm(forms.Form):
    """ "Réserver la semaine": every free day of a week for one child and prestation."""

    child = forms.IntegerField(min_value=1)
    prestation = forms.IntegerField(min_value=1)
    week = DateField(input_formats=["%Y-%m-%d"])


class PeriodForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Je veux"),
        choices=[("add", _("ajouter ces jours au panier")), ("remove", _("retirer ces jours du panier"))],
        initial="add",
        required=False,  # adding, unless the parent chose to remove
        widget=forms.RadioSelect,
    )
    prestation = forms.ChoiceField(label=_("Prestation"))
    children = forms.MultipleChoiceField(label=_("Enfants"), widget=forms.CheckboxSelectMultiple)
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Jours de la semaine"),
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    start = DateField(label=_("Du"))
    end = DateField(label=_("Au"))

    def __init__(self, *args, prestations: list[tuple[str, str]], children: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prestation"].choices = [("", _("— choisir —")), *prestations]
        self.fields["children"].choices = children


class CancellationRequestForm(forms.Form):
    reason = forms.CharField(label=_("Motif"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)
    attachment = forms.FileField(
        label=_("Justificatif (facultatif)"),
        required=False,
        help_text=_("Certificat médical par exemple : PDF, JPEG ou PNG, 5 Mo au plus."),
    )


class AccountSettingsForm(forms.Form):
    """The e-mails a guardian receives, one switch per kind (shared_identity NOTIFICATION_FIELDS)."""

    notify_invoices = forms.BooleanField(
        label=_("Une nouvelle facture est émise, un paiement est reçu (avec son reçu)"), required=False
    )
    notify_requests = forms.BooleanField(
        label=_("Une de mes demandes avance (demandes, demandes d'annulation)"), required=False
    )
    remind_booking_deadlines = forms.BooleanField(
        label=_("Rappel la veille de la fin des réservations de la semaine suivante"),
        required=False,
    )
    notify_news = forms.BooleanField(label=_("Ma commune publie une actualité"), required=False)

    # Form field → kind of e-mail.
    KINDS = {
        "notify_invoices": "invoice",
        "notify_requests": "request",
        "remind_booking_deadlines": "reminder",
        "notify_news": "news",
    }

    def preferences(self) -> dict[str, bool]:
        return {kind: self.cleaned_data[field] for field, kind in self.KINDS.items()}
