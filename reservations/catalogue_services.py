"""Writes on a commune's catalogue: services, sites, prestations (opening days, deadline rules,
prices, places per site, quotient-familial brackets), its calendar (closures, school holidays)
and the families' quotient familial.

Each command is one transaction. A refusal is a FoyerError("invalid") whose
``extra["fields"]`` maps each faulty field to its French messages, and nothing is saved.
Errors on a deadline rule are keyed "<rule>_<field>" ("booking_rule_days"), on the places per
site "sites", on the quotient-familial brackets "brackets"."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError, NotFound
from foyer.formatting import bracket_label
from shared_identity.models import Account, Family

from .deadlines import DeadlineRule, InvalidDeadlineRule, missing_fields
from .models import (
    Closure,
    Prestation,
    PrestationSite,
    PriceBracket,
    QuotientFamilial,
    SchoolHoliday,
    Service,
    Site,
)


@dataclass(frozen=True)
class ServiceInput:
    name: str
    description: str = ""
    is_active: bool = True
    late_cancellation: str = Service.LateCancellation.AGENT_DECIDES
    # The régie that bills it (None: the commune's first régie).
    regie_id: int | None = None
    tax_credit_eligible: bool = False


@dataclass(frozen=True)
class SiteInput:
    name: str
    address: str = ""
    service_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class OfferInput:
    """A site where the prestation is offered; no capacity means no limit."""

    site_id: int
    capacity: int | None = None


@dataclass(frozen=True)
class BracketInput:
    """Families whose quotient familial is in [qf_min, qf_max] (no qf_max: and above) pay price."""

    qf_min: int
    qf_max: int | None
    price: Decimal


@dataclass(frozen=True)
class PrestationInput:
    service_id: int
    label: str
    code: str
    base_price: Decimal
    weekdays: tuple[int, ...]
    colour: str = "#2563eb"
    billing_mode: str = Prestation.BillingMode.MONTH_END
    period: str = Prestation.Period.SCHOOL
    start_time: dt.time | None = None
    # DeadlineRule.to_dict() shapes; {} is "sans délai".
    booking_rule: dict = field(default_factory=dict)
    cancellation_rule: dict = field(default_factory=dict)
    late_price: Decimal | None = None
    unbooked_presence_price: Decimal | None = None
    is_active: bool = True
    offers: tuple[OfferInput, ...] = ()
    brackets: tuple[BracketInput, ...] = ()


class _Errors:
    """Per-field messages, gathered so that one refusal lists everything to correct."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, message: str) -> None:
        self.fields[name].append(message)

    def check_model(self, instance: models.Model, *, exclude: tuple[str, ...] = ()) -> None:
        """The model's own field checks: lengths, choices, formats (code, colour)."""
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                self.fields[name].extend(messages)

    def raise_if_any(self, message: str) -> None:
        if self.fields:
            raise FoyerError("invalid", message, extra={"fields": dict(self.fields)})


def _row(model: type[models.Model], pk: int | None) -> models.Model:
    """A new row (no id), or the row to change, locked."""
    if pk is None:
        return model()
    row = model.objects.select_for_update().filter(pk=pk).first()
    if row is None:
        raise NotFound()
    return row


def _taken(rows: models.QuerySet, instance: models.Model) -> bool:
    return rows.exclude(pk=instance.pk).exists()


# --- Services and sites ----------------------------------------------------------------------------


def save_service(*, service_id: int | None = None, data: ServiceInput, actor: Account) -> Service:
    """Create a service (no id) or change one."""
    with transaction.atomic(durable=True):
        service = _row(Service, service_id)
        service.name = data.name.strip()
        service.description = data.description.strip()
        service.is_active = data.is_active
        service.late_cancellation = data.late_cancellation
        service.regie_id = data.regie_id
        service.tax_credit_eligible = data.tax_credit_eligible
        errors = _Errors()
        errors.check_model(service)
        if _taken(Service.objects.filter(name__iexact=service.name), service):
            errors.add("name", _("Un autre service porte déjà ce nom."))
        errors.raise_if_any(_("Le service n'a pas été enregistré : corrigez les erreurs."))
        service.save()
    return service


def save_site(*, site_id: int | None = None, data: SiteInput, actor: Account) -> Site:
    """Create a site (no id) or change one, with the services it hosts."""
    with transaction.atomic(durable=True):
        site = _row(Site, site_id)
        site.name = data.name.strip()
        site.address = data.address.strip()
        errors = _Errors()
        errors.check_model(site)
        if _taken(Site.objects.filter(name__iexact=site.name), site):
            errors.add("name", _("Un autre site porte déjà ce nom."))
        services = list(Service.objects.filter(pk__in=data.service_ids))
        if len(services) != len(set(data.service_ids)):
            errors.add("services", _("Un des services choisis n'existe pas."))
        if site.pk:
            offer = (
                PrestationSite.objects.filter(site=site)
                .exclude(prestation__service__in=services)
                .select_related("prestation__service")
                .first()
            )
            if offer:
                errors.add(
                    "services",
                    _(
                        "Le service « %(service)s » ne peut pas être retiré : la prestation "
                        "« %(prestation)s » est proposée sur ce site."
                    )
                    % {"service": offer.prestation.service.name, "prestation": offer.prestation.label},
                )
        errors.raise_if_any(_("Le site n'a pas été enregistré : corrigez les erreurs."))
        site.save()
        site.services.set(services)
        audit.related_saved(site)
    return site


# --- Prestations -----------------------------------------------------------------------------------

_PRICES = ("base_price", "late_price", "unbooked_presence_price")


def save_prestation(*, prestation_id: int | None = None, data: PrestationInput, actor: Account) -> Prestation:
    """Create a prestation (no id) or change one: its opening, its booking and cancellation rules,
    its prices and quotient-familial brackets, and the sites where it is offered."""
    with transaction.atomic(durable=True):
        prestation = _row(Prestation, prestation_id)
        errors = _Errors()
        service = Service.objects.filter(pk=data.service_id).first()
        if service is None:
            errors.add("service", _("Choisissez un service."))
        else:
            prestation.service = service
        prestation.label = data.label.strip()
        prestation.code = data.code.strip().upper()
        prestation.colour = data.colour
        prestation.billing_mode = data.billing_mode
        prestation.period = data.period
        prestation.start_time = data.start_time
        prestation.is_active = data.is_active
        for name in _PRICES:
            setattr(prestation, name, getattr(data, name))
        prestation.weekdays = sorted(set(data.weekdays))
        errors.check_model(prestation, exclude=("service", "weekdays", "booking_rule", "cancellation_rule"))
        if _taken(Prestation.objects.filter(code=prestation.code), prestation):
            errors.add("code", _("Ce code est déjà celui d'une autre prestation."))
        if not prestation.weekdays or not set(prestation.weekdays) <= set(range(7)):
            errors.add("weekdays", _("Cochez au moins un jour d'ouverture."))
        for name in _PRICES:
            price = getattr(data, name)
            if price is not None and price < 0:
                errors.add(name, _("Un prix ne peut pas être négatif."))
        prestation.booking_rule = _checked_rule(
            errors, "booking_rule", data.booking_rule, _("Délai de réservation")
        )
        prestation.cancellation_rule = _checked_rule(
            errors, "cancellation_rule", data.cancellation_rule, _("Délai d'annulation")
        )
        _check_offers(errors, data.offers, service)
        _check_brackets(errors, data.brackets)
        errors.raise_if_any(_("La prestation n'a pas été enregistrée : corrigez les erreurs."))
        prestation.save()
        _replace_offers(prestation, data.offers)
        prestation.brackets.all().delete()
        PriceBracket.objects.bulk_create(
            PriceBracket(prestation=prestation, qf_min=b.qf_min, qf_max=b.qf_max, price=b.price)
            for b in data.brackets
        )
        audit.related_saved(prestation)
    return prestation


def _checked_rule(errors: _Errors, name: str, data: dict, title: str) -> dict:
    """The rule as stored (normalised by DeadlineRule), or the refusal on the faulty field."""
    refusals = missing_fields(data)
    try:
        rule = DeadlineRule.from_dict(data).to_dict()
    except InvalidDeadlineRule as error:
        refusals.append(error)
    for error in refusals:
        errors.add(
            f"{name}_{error.field.split('.')[0] or 'kind'}",
            _("%(rule)s : %(problem)s") % {"rule": title, "problem": error.problem},
        )
    return data if refusals else rule


def _check_offers(errors: _Errors, offers: tuple[OfferInput, ...], service: Service | None) -> None:
    sites = Site.objects.in_bulk([offer.site_id for offer in offers])
    hosted = set(service.sites.values_list("pk", flat=True)) if service else set()
    for offer in offers:
        site = sites.get(offer.site_id)
        if site is None:
            errors.add("sites", _("Un des sites choisis n'existe pas."))
            continue
        if service and site.pk not in hosted:
            errors.add(
                "sites",
                _(
                    "Le site « %(site)s » n'accueille pas le service « %(service)s » : ajoutez-le au site d'abord."
                )
                % {"site": site.name, "service": service.name},
            )
        if offer.capacity is not None and offer.capacity < 1:
            errors.add(
                "sites",
                _("%(site)s : au moins 1 place par jour, ou laissez vide pour ne pas limiter.")
                % {"site": site.name},
            )


def _replace_offers(prestation: Prestation, offers: tuple[OfferInput, ...]) -> None:
    site_ids = [offer.site_id for offer in offers]
    PrestationSite.objects.filter(prestation=prestation).exclude(site_id__in=site_ids).delete()
    PrestationSite.objects.bulk_create(
        [PrestationSite(prestation=prestation, site_id=o.site_id, capacity=o.capacity) for o in offers],
        update_conflicts=True,
        unique_fields=["prestation", "site"],
        update_fields=["capacity"],
    )


def _check_brackets(errors: _Errors, brackets: tuple[BracketInput, ...]) -> None:
    """Each bracket well formed, and no quotient familial in two brackets."""
    ordered = sorted(brackets, key=lambda bracket: bracket.qf_min)
    for bracket in ordered:
        label = bracket_label(bracket.qf_min, bracket.qf_max)
        if bracket.qf_min < 0 or (bracket.qf_max is not None and bracket.qf_max < bracket.qf_min):
            errors.add(
                "brackets",
                _("%(bracket)s : le QF maximum doit être supérieur ou égal au QF minimum, lui-même positif.")
                % {"bracket": label},
            )
        if bracket.price < 0:
            errors.add("brackets", _("%(bracket)s : un prix ne peut pas être négatif.") % {"bracket": label})
    for lower, upper in zip(ordered, ordered[1:], strict=False):
        if lower.qf_max is None or lower.qf_max >= upper.qf_min:
            errors.add(
                "brackets",
                _(
                    "Les tranches « %(first)s » et « %(second)s » se chevauchent : "
                    "un quotient familial ne doit tomber que dans une seule tranche."
                )
                % {
                    "first": bracket_label(lower.qf_min, lower.qf_max),
                    "second": bracket_label(upper.qf_min, upper.qf_max),
                },
            )


# --- Calendar --------------------------------------------------------------------------------------


def add_closure(*, day: dt.date, site_id: int | None, reason: str, actor: Account) -> Closure:
    """Close one site (or every site, without site_id) on a day. Bookings already made stay:
    a mass cancellation cancels them."""
    with transaction.atomic(durable=True):
        errors = _Errors()
        site = None
        if site_id is not None:
            site = Site.objects.filter(pk=site_id).first()
            if site is None:
                errors.add("site", _("Ce site n'existe pas."))
        closure = Closure(date=day, site=site, reason=reason.strip())
        errors.check_model(closure, exclude=("site",))
        if Closure.objects.filter(date=day, site=site).exists():
            errors.add("date", _("Une fermeture est déjà enregistrée ce jour-là pour ce site."))
        errors.raise_if_any(_("La fermeture n'a pas été ajoutée : corrigez les erreurs."))
        closure.save()
    return closure


def add_school_holiday(*, name: str, start: dt.date, end: dt.date, actor: Account) -> SchoolHoliday:
    with transaction.atomic(durable=True):
        holiday = SchoolHoliday(name=name.strip(), start=start, end=end)
        errors = _Errors()
        errors.check_model(holiday)
        if end < start:
            errors.add("end", _("Le dernier jour précède le premier."))
        overlapping = SchoolHoliday.objects.filter(start__lte=end, end__gte=start).first()
        if overlapping:
            errors.add(
                "start",
                _("Cette période chevauche « %(name)s » (du %(start)s au %(end)s).")
                % {
                    "name": overlapping.name,
                    "start": overlapping.start.strftime("%d/%m/%Y"),
                    "end": overlapping.end.strftime("%d/%m/%Y"),
                },
            )
        errors.raise_if_any(_("La période de vacances n'a pas été ajoutée : corrigez les erreurs."))
        holiday.save()
    return holiday


def delete_closure(*, closure_id: int, actor: Account) -> None:
    _delete(Closure, closure_id)


def delete_school_holiday(*, holiday_id: int, actor: Account) -> None:
    _delete(SchoolHoliday, holiday_id)


def _delete(model: type[models.Model], pk: int) -> None:
    with transaction.atomic(durable=True):
        deleted, _rows = model.objects.filter(pk=pk).delete()
    if not deleted:
        raise NotFound()


# --- Quotient familial -----------------------------------------------------------------------------


def set_quotient_familial(
    *, family: Family, value: int, valid_from: dt.date, actor: Account
) -> QuotientFamilial:
    """The family's quotient familial from a date (replacing the one set for that same date).
    Bookings already made keep their price; new ones are priced with it."""
    if value < 0:
        raise FoyerError(
            "invalid",
            _("Le quotient familial n'a pas été enregistré : corrigez les erreurs."),
            extra={"fields": {"value": [_("Un quotient familial est un nombre positif.")]}},
        )
    with transaction.atomic(durable=True):
        quotient, _created = QuotientFamilial.objects.update_or_create(
            family=family, valid_from=valid_from, defaults={"value": value}
        )
    return quotient
