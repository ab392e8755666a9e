"""Forms of the console's billing pages. They only parse what was typed; billing.services and
billing.console_services decide what is valid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from billing.console_services import SIGNATURE_MAX_BYTES, SIGNATURE_MAX_PIXELS
from billing.models import PayfipMode, Payment, PaymentProvider, Regie

from .reservation_forms import money_field

MONTHS_OFFERED = 13
COUNTER_METHODS = [
    (method.value, method.label)
    for method in (Payment.Method.CASH, Payment.Method.CHECK, Payment.Method.CESU)
]


class RegieForm(forms.ModelForm):
    """Labels and limits come from the model; the Mollie key is never shown back. A régie
    collects through Mollie (its key) or PayFiP (its client number and mode)."""

    mollie_key = forms.CharField(
        label=_("Nouvelle clé API Mollie"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "Commence par « test_ » ou « live_ ». Laissez vide pour garder la clé enregistrée. "
            "Elle est chiffrée et ne sera plus jamais affichée."
        ),
    )

    class Meta:
        model = Regie
        fields = [
            "name",
            "regie_code",
            "source",
            "reference_format",
            "due_days",
            "invoicing_day",
            "online_payment",
            "payment_provider",
            "payfip_numcli",
            "payfip_saisie",
            "address",
            "direct_debit_enabled",
        ]
        help_texts = {
            "name": _("Tel que les familles le lisent, par exemple « Restauration scolaire »."),
            "regie_code": _("Apparaît dans la référence des factures, par exemple 2027-CA-00-154."),
            "source": _(
                "« Importées » : la commune facture dans son propre logiciel et publie ici ses factures, "
                "que les familles paient en ligne."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty, the format stays as it is; the provider is Mollie and PayFiP's mode test.
        self.fields["reference_format"].required = False
        self.fields["payment_provider"].required = False
        self.fields["payfip_saisie"].required = False

    def clean_payment_provider(self) -> str:
        return self.cleaned_data["payment_provider"] or PaymentProvider.MOLLIE

    def clean_payfip_saisie(self) -> str:
        return self.cleaned_data["payfip_saisie"] or PayfipMode.TEST

    def clean_payfip_numcli(self) -> str:
        return self.cleaned_data["payfip_numcli"].strip()

        self.fields["address"].widget.attrs["rows"] = 3

    def clean_regie_code(self) -> str:
        return self.cleaned_data["regie_code"].strip().upper()

    def validate_unique(self) -> None:
        """The form is not bound to the row: billing.console_services checks the code."""


def _months(today: dt.date) -> list[dt.date]:
    """The first day of this month and of the twelve before, newest first."""
    first = today.replace(day=1)
    return [
        dt.date(first.year + (first.month - 1 - back) // 12, (first.month - 1 - back) % 12 + 1, 1)
        for back in range(MONTHS_OFFERED)
    ]


class PrepareRunForm(forms.Form):
    regie = forms.ModelChoiceField(
        label=_("Régie"),
        queryset=Regie.objects.filter(source=Regie.Source.FOYER),
        required=False,  # left out: the commune's first régie
        empty_label=None,
        help_text=_("Chaque régie facture ses services, avec sa propre série de numéros."),
    )
    month = forms.TypedChoiceField(label=_("Mois à facturer"), coerce=dt.date.fromisoformat)

    def __init__(self, data=None, *, today: dt.date):
        months = _months(today)
        super().__init__(data, initial={"month": months[1].isoformat()})
        self.fields["month"].choices = [(month.isoformat(), date_format(month, "F Y")) for month in months]


class CounterPaymentForm(forms.Form):
    method = forms.ChoiceField(label=_("Mode de paiement"), choices=COUNTER_METHODS)
    amount = money_field(_("Montant (€)"), help_text=_("Par exemple 12,50."))
    reference = forms.CharField(
        label=_("Référence"),
        max_length=100,
        required=False,
        help_text=_("Numéro du chèque ou du titre CESU, facultatif."),
    )

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError(_("Saisissez un montant supérieur à 0."))
        return amount


class PaymentFilterForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Mode de paiement"),
        choices=[("", _("Tous les modes"))] + list(Payment.Method.choices),
        required=False,
    )


class RefundForm(forms.Form):
    amount = money_field(_("Montant à rembourser (€)"), help_text=_("Tout ou partie de ce qui a été payé."))
    reason = forms.CharField(label=_("Motif"), max_length=255)


class CreditNoteForm(forms.Form):
    amount = money_field(
        _("Montant de l'avoir (€)"), help_text=_("Déduit de la prochaine facture de la famille.")
    )
    reason = forms.CharField(label=_("Motif"), max_length=255)


class RegieSignatureForm(forms.Form):
    """The file is checked by billing.console_services (content, size, dimensions)."""

    signature = forms.FileField(
        label=_("Signature scannée du régisseur"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg"}),
        help_text=_("Image PNG ou JPEG, %(size)s Ko au plus, %(pixels)s pixels de côté au plus.")
        % {"size": SIGNATURE_MAX_BYTES // 1024, "pixels": SIGNATURE_MAX_PIXELS},
    )
    remove = forms.BooleanField(label=_("Retirer la signature enregistrée"), required=False)


class AttestationRunForm(forms.Form):
    year = forms.TypedChoiceField(label=_("Année des paiements"), coerce=int)
    resend = forms.BooleanField(
        label=_("Envoyer aussi aux familles qui ont déjà reçu leurs attestations de cette année"),
        required=False,
    )

    def __init__(self, data=None, *, today: dt.date):
        super().__init__(data)
        years = list(range(today.year, today.year - 6, -1))
        self.fields["year"].choices = [(year, str(year)) for year in years]
        # In January, last year's attestations are the ones families ask for.
        self.fields["year"].initial = today.year - 1
