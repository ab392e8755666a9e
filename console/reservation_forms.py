"""Forms of the console's reservation pages. They only parse what was typed into the inputs
of reservations.catalogue_services and reservations.services, which decide what is valid."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.forms.boundfield import BoundField
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import Regie
from foyer.dates import DateField
from foyer.formatting import WEEKDAY_NAMES
from reservations.catalogue_services import (
    BracketInput,
    OfferInput,
    PrestationInput,
    ServiceInput,
    SiteInput,
)
from reservations.console_selectors import ATTENDANCE_MARKS, describe_rule
from reservations.deadlines import FIELDS_BY_KIND as RULE_FIELDS
from reservations.deadlines import RuleKind
from reservations.models import CancellationRequest, Prestation, Service, Site
from reservations.services import credit_allowed
from shared_identity.models import Family

WEEKDAYS = list(enumerate(WEEKDAY_NAMES))


def date_field(label: str, **kwargs) -> forms.DateField:
    return DateField(label=label, **kwargs)


def money_field(label: str, **kwargs) -> forms.DecimalField:
    """Euros with two decimals, typed "4,05" or "4.05"."""
    return forms.DecimalField(
        label=label,
        max_digits=12,
        decimal_places=2,
        localize=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        **kwargs,
    )


@dataclass(frozen=True)
class FieldGroup:
    """Fields of a form shown together under a legend."""

    legend: str
    fields: list[BoundField]


# --- Catalogue -------------------------------------------------------------------------------------


class ServiceForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(label=_("Actif (proposé aux familles)"), required=False, initial=True)
    late_cancellation = forms.ChoiceField(
        label=_("Annulation hors délai"),
        choices=Service.LateCancellation.choices,
        initial=Service.LateCancellation.AGENT_DECIDES,
        help_text=_("Ce que la commune accorde quand une famille demande à annuler après le délai."),
    )
    regie = forms.ModelChoiceField(
        label=_("Régie"),
        queryset=Regie.objects.all(),
        required=False,
        empty_label=_("La première régie de la commune"),
        help_text=_("La régie qui facture ce service et encaisse ses paiements."),
    )
    tax_credit_eligible = forms.BooleanField(
        label=_("Ouvre droit au crédit d'impôt pour frais de garde"),
        required=False,
        help_text=_(
            "Garde des enfants de moins de 6 ans hors du domicile : périscolaire, accueil de loisirs. "
            "Les repas de la cantine n'y ouvrent pas droit. Les services cochés figurent sur "
            "l'attestation pour le crédit d'impôt."
        ),
    )

    def __init__(self, data=None, *, service: Service | None = None):
        super().__init__(data, initial=model_to_dict(service) if service else None)

    def to_input(self) -> ServiceInput:
        data = dict(self.cleaned_data)
        regie = data.pop("regie")
        return ServiceInput(**data, regie_id=regie.pk if regie else None)


class SiteForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=120)
    address = forms.CharField(label=_("Adresse"), max_length=255, required=False)
    services = forms.ModelMultipleChoiceField(
        label=_("Services accueillis"),
        queryset=Service.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, data=None, *, site: Site | None = None):
        super().__init__(data, initial=model_to_dict(site) if site else None)

    def to_input(self) -> SiteInput:
        data = self.cleaned_data
        return SiteInput(
            name=data["name"], address=data["address"], service_ids=tuple(s.pk for s in data["services"])
        )


RULE_KINDS = [
    (RuleKind.NONE.value, _("Sans délai")),
    (RuleKind.DAYS_BEFORE.value, _("J-n : un nombre de jours avant, à une heure limite")),
    (RuleKind.WEEKDAY_BEFORE.value, _("Un jour de la semaine précédant le service, à une heure limite")),
    (RuleKind.WEEKDAY_PREVIOUS_WEEK.value, _("Un jour de la semaine précédente, à une heure limite")),
    (RuleKind.DAY_OF_PREVIOUS_MONTH.value, _("Un jour du mois précédent, à une heure limite")),
    (RuleKind.HOURS_BEFORE.value, _("Un nombre d'heures avant le début de la prestation")),
]


def _rule_fields(prefix: str) -> dict[str, forms.Field]:
    """A deadline rule: its kind, and every field a kind may use (help texts say which)."""
    return {
        f"{prefix}_kind": forms.ChoiceField(label=_("Type de délai"), choices=RULE_KINDS),
        f"{prefix}_days": forms.IntegerField(
            label=_("Nombre de jours (J-n)"), required=False, help_text=_("Pour « J-n ».")
        ),
        f"{prefix}_working_days": forms.BooleanField(
            label=_("En jours ouvrés"),
            required=False,
            help_text=_("Pour « J-n » : les samedis, dimanches et jours fériés ne comptent pas."),
        ),
        f"{prefix}_alsace_moselle": forms.BooleanField(
            label=_("Avec les jours fériés d'Alsace-Moselle"),
            required=False,
            help_text=_("Pour « J-n » en jours ouvrés : Vendredi saint et Saint-Étienne en plus."),
        ),
        f"{prefix}_weekday": forms.TypedChoiceField(
            label=_("Jour de la semaine"),
            choices=[("", "—"), *WEEKDAYS],
            coerce=int,
            empty_value=None,
            required=False,
            help_text=_("Pour « un jour de la semaine précédant le service » et « semaine précédente »."),
        ),
        f"{prefix}_day_of_month": forms.IntegerField(
            label=_("Jour du mois (1 à 28)"),
            required=False,
            help_text=_("Pour « un jour du mois précédent »."),
        ),
        f"{prefix}_hours": forms.IntegerField(
            label=_("Nombre d'heures"),
            required=False,
            help_text=_("Pour « un nombre d'heures » : comptées depuis l'heure de début de la prestation."),
        ),
        f"{prefix}_cutoff": forms.CharField(
            label=_("Heure limite (HH:MM)"),
            required=False,
            widget=forms.TextInput(attrs={"type": "time"}),
            help_text=_("Par exemple 23:59. Pour tous les types sauf « un nombre d'heures »."),
        ),
    }


class BracketForm(forms.Form):
    qf_min = forms.IntegerField(label=_("QF minimum"), required=False, min_value=0)
    qf_max = forms.IntegerField(label=_("QF maximum (vide : sans plafond)"), required=False, min_value=0)
    price = money_field(_("Prix"), required=False)

    def clean(self):
        data = super().clean()
        if any(value is not None for value in data.values()):
            for name in ("qf_min", "price"):
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, _("Ce champ est obligatoire pour une tranche."))
        return data


class BaseBracketFormSet(forms.BaseFormSet):
    def to_inputs(self) -> tuple[BracketInput, ...]:
        """The filled rows; an empty row is no bracket (empty a row to remove its bracket)."""
        return tuple(
            BracketInput(**form.cleaned_data)
            for form in self.forms
            if any(value is not None for value in form.cleaned_data.values())
        )


BracketFormSet = forms.formset_factory(
    BracketForm, formset=BaseBracketFormSet, extra=3, max_num=30, validate_max=True
)


class PrestationForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=Service.objects.order_by("name"))
    label = forms.CharField(label=_("Libellé"), max_length=120)
    code = forms.CharField(
        label=_("Code"), max_length=12, help_text=_("Majuscules, chiffres et _ ; unique (par exemple REPAS).")
    )
    colour = forms.CharField(
        label=_("Couleur"),
        initial="#2563eb",
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text=_("Repère visuel dans les calendriers ; le libellé reste toujours affiché."),
    )
    billing_mode = forms.ChoiceField(label=_("Mode de facturation"), choices=Prestation.BillingMode.choices)
    is_active = forms.BooleanField(label=_("Active (proposée aux familles)"), required=False, initial=True)
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Jours d'ouverture"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    period = forms.ChoiceField(label=_("Période"), choices=Prestation.Period.choices)
    start_time = forms.TimeField(
        label=_("Heure de début"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Sert aux délais en heures ; vide : minuit."),
    )
    base_price = money_field(_("Prix de base (€)"), help_text=_("Le prix sans tranche de quotient familial."))
    late_price = money_field(
        _("Prix hors délai (€)"), required=False, help_text=_("Vide : pas de réservation hors délai.")
    )
    unbooked_presence_price = money_field(
        _("Prix d'une présence sans réservation (€)"),
        required=False,
        help_text=_("Vide : le prix habituel de la famille."),
    )
    sites = forms.ModelMultipleChoiceField(
        label=_("Sites où elle est proposée"),
        queryset=Site.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    RULES = (("booking_rule", _("Délai de réservation")), ("cancellation_rule", _("Délai d'annulation")))

    def __init__(self, data=None, *, prestation: Prestation | None = None):
        self.site_list = list(Site.objects.order_by("name"))
        self.kept_rules: dict[str, dict] = {}
        super().__init__(data, initial=self._initial(prestation))
        for prefix, _title in self.RULES:
            self.fields.update(_rule_fields(prefix))
            stored = getattr(prestation, prefix, None)
            if stored and stored.get("kind") == RuleKind.PER_WEEKDAY:
                # Not editable here: kept as it is unless another kind is chosen.
                self.kept_rules[prefix] = stored
                self.fields[f"{prefix}_kind"].choices = [
                    (
                        RuleKind.PER_WEEKDAY.value,
                        _("Par jour de la semaine : %(rule)s (inchangé)") % {"rule": describe_rule(stored)},
                    ),
                    *RULE_KINDS,
                ]
        for site in self.site_list:
            self.fields[f"capacity_{site.pk}"] = forms.IntegerField(
                label=_("Places par jour à %(site)s") % {"site": site.name},
                required=False,
                help_text=_("Vide : sans limite."),
            )
        # Posted rows are read as typed (an unchanged row is not skipped as "empty").
        self.brackets = BracketFormSet(
            data,
            prefix="brackets",
            initial=[
                {"qf_min": b.qf_min, "qf_max": b.qf_max, "price": b.price} for b in prestation.brackets.all()
            ]
            if prestation and data is None
            else None,
        )

    @staticmethod
    def _initial(prestation: Prestation | None) -> dict | None:
        if prestation is None:
            return None
        initial = model_to_dict(prestation, exclude=["sites", "booking_rule", "cancellation_rule"])
        initial["sites"] = [offer.site_id for offer in prestation.offers.all()]
        for offer in prestation.offers.all():
            initial[f"capacity_{offer.site_id}"] = offer.capacity
        for prefix, _title in PrestationForm.RULES:
            for name, value in (getattr(prestation, prefix) or {"kind": RuleKind.NONE}).items():
                initial[f"{prefix}_{name}"] = value
        return initial

    def is_valid(self) -> bool:
        return all([super().is_valid(), self.brackets.is_valid()])

    def groups(self) -> list[FieldGroup]:
        layout = [
            (_("La prestation"), ["service", "label", "code", "colour", "billing_mode", "is_active"]),
            (_("Ouverture"), ["weekdays", "period", "start_time"]),
            *(
                (title, [name for name in self.fields if name.startswith(f"{prefix}_")])
                for prefix, title in self.RULES
            ),
            (_("Prix"), ["base_price", "late_price", "unbooked_presence_price"]),
            (
                _("Sites et places par jour"),
                ["sites", *(f"capacity_{site.pk}" for site in self.site_list)],
            ),
        ]
        return [FieldGroup(legend, [self[name] for name in names]) for legend, names in layout]

    def _rule(self, prefix: str) -> dict:
        """The rule typed, with only the fields its kind uses (the others may hold leftovers)."""
        kind = self.cleaned_data[f"{prefix}_kind"]
        if kind == RuleKind.PER_WEEKDAY:
            return self.kept_rules[prefix]
        rule = {"kind": kind}
        for name in RULE_FIELDS[RuleKind(kind)]:
            value = self.cleaned_data.get(f"{prefix}_{name}")
            if value not in (None, ""):
                rule[name] = value
        return rule

    def to_input(self) -> PrestationInput:
        data = self.cleaned_data
        return PrestationInput(
            service_id=data["service"].pk,
            label=data["label"],
            code=data["code"],
            colour=data["colour"],
            billing_mode=data["billing_mode"],
            is_active=data["is_active"],
            weekdays=tuple(data["weekdays"]),
            period=data["period"],
            start_time=data["start_time"],
            booking_rule=self._rule("booking_rule"),
            cancellation_rule=self._rule("cancellation_rule"),
            base_price=data["base_price"],
            late_price=data["late_price"],
            unbooked_presence_price=data["unbooked_presence_price"],
            offers=tuple(OfferInput(site.pk, data.get(f"capacity_{site.pk}")) for site in data["sites"]),
            brackets=self.brackets.to_inputs(),
        )


class ClosureForm(forms.Form):
    date = date_field(_("Date"))
    site = forms.ModelChoiceField(
        label=_("Site"),
        queryset=Site.objects.order_by("name"),
        required=False,
        empty_label=_("Tous les sites"),
    )
    reason = forms.CharField(label=_("Motif"), max_length=200)


class SchoolHolidayForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=120, help_text=_("Par exemple : Vacances d'hiver"))
    start = date_field(_("Premier jour"))
    end = date_field(_("Dernier jour"))


# --- A family's dossier ----------------------------------------------------------------------------


class EnrolmentForm(forms.Form):
    child = forms.ModelChoiceField(label=_("Enfant"), queryset=None)
    service = forms.ModelChoiceField(label=_("Service"), queryset=Service.objects.filter(is_active=True))
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.order_by("name"))
    start = date_field(_("Du"))
    end = date_field(_("Au"))

    def __init__(self, data=None, *, family: Family):
        super().__init__(data, prefix="inscription")
        self.fields["child"].queryset = family.children.all()


class QuotientForm(forms.Form):
    value = forms.IntegerField(label=_("Quotient familial"), min_value=0)
    valid_from = date_field(
        _("À partir du"),
        initial=timezone.localdate,
        help_text=_("Les réservations déjà faites gardent leur prix ; les suivantes utilisent ce QF."),
    )

    def __init__(self, data=None):
        super().__init__(data, prefix="qf")


# --- Operations ------------------------------------------------------------------------------------


class AttendanceFilterForm(forms.Form):
    """Which pointage: the query string of the page (?jour=…&site=…&prestation=…)."""

    jour = date_field(_("Jour"))
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.order_by("name"))
    prestation = forms.ModelChoiceField(
        label=_("Prestation"), queryset=Prestation.objects.filter(is_active=True)
    )

    def query(self) -> str:
        data = self.cleaned_data
        return f"jour={data['jour']:%Y-%m-%d}&site={data['site'].pk}&prestation={data['prestation'].pk}"


class AttendanceMarkForm(AttendanceFilterForm):
    enfant = forms.IntegerField()
    statut = forms.ChoiceField(choices=[(mark.value, mark.label) for mark in ATTENDANCE_MARKS])


class MassCancellationForm(forms.Form):
    date = date_field(_("Date"))
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.order_by("name"))
    prestation = forms.ModelChoiceField(
        label=_("Prestation"),
        queryset=Prestation.objects.all(),
        required=False,
        empty_label=_("Toutes : le site est fermé ce jour-là"),
        help_text=_(
            "Sans prestation choisie, le site est aussi fermé aux nouvelles réservations ce jour-là."
        ),
    )
    reason = forms.CharField(
        label=_("Motif (envoyé aux familles)"), max_length=200, help_text=_("Par exemple : grève, sortie.")
    )


class RequestFilterForm(forms.Form):
    statut = forms.ChoiceField(
        label=_("Statut"),
        choices=[("", _("Tous (en attente d'abord)")), *CancellationRequest.Status.choices],
        required=False,
    )


class DecisionForm(forms.Form):
    ACCEPT, ACCEPT_WITH_CREDIT, REFUSE = "accept", "accept_credit", "refuse"

    decision = forms.ChoiceField(label=_("Décision"), widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("Message à la famille"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Obligatoire pour un refus ; envoyé par e-mail à la famille."),
    )

    def __init__(self, data=None, *, request: CancellationRequest):
        super().__init__(data)
        choices = [(self.ACCEPT, _("Accepter sans avoir"))]
        if credit_allowed(request):
            choices.append((self.ACCEPT_WITH_CREDIT, _("Accepter avec un avoir")))
        choices.append((self.REFUSE, _("Refuser")))
        self.fields["decision"].choices = choices

    def to_kwargs(self) -> dict:
        decision = self.cleaned_data["decision"]
        return {
            "accept": decision != self.REFUSE,
            "credit": decision == self.ACCEPT_WITH_CREDIT,
            "comment": self.cleaned_data["comment"],
        }
