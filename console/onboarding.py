"""The onboarding checklist of a commune: what its administrator still has to do, from the
invitation e-mail to "Ouvrir aux familles". Computed from the commune's real data, in a
fixed number of queries (one for the counts and the régie, one for the prestations, and
two for the calendar when there are prestations), whatever the size of the catalogue.

The steps, and when each one is done ("fait"):

1. **Identité et charte** (required): a contact e-mail and legal mentions are entered (the
   legal mentions of a public website are an obligation), and the colour is readable under
   white text (WCAG AA, 4.5:1). A logo is recommended, never required.
2. **Services, sites, prestations, tarifs et délais** (required): at least one prestation is
   complete, i.e. active, in an active service, offered on at least one site, with a price
   (a base price above zero or quotient-familial brackets) and both a booking and a
   cancellation deadline other than "sans délai". Other prestations may still be drafts.
3. **Calendrier** (required): every active prestation opens on at least one weekday; when a
   prestation follows the school periods ("hors vacances" or "pendant les vacances"), a
   period of school holidays that ends today or later is entered (without one, "hors
   vacances" means every week and "pendant les vacances" never); and each active prestation
   opens at least one day in the next OPENING_HORIZON_WEEKS weeks once weekdays, public
   holidays, closures and holidays are taken into account (long enough to span the summer
   holidays).
4. **Régie et paiement en ligne** (required): an admin has saved the régie settings once
   (``Regie.saved_at`` of at least one régie: its code, payment delay and invoicing day are the
   commune's, not the defaults), and online payment is either off while no active
   prestation is prepaid, or on with a Mollie key saved (a prepaid prestation needs it). A
   test key is accepted, with a note that payments are not real until the live key is saved.
5. **Catégories de demandes** (required): at least one active category is offered to
   families (Foyer's own system categories do not count). New communes start with default
   categories, so this step is usually done already: the note asks to review them.
6. **Équipe** (facultatif): done when somebody else has a role or a pending invitation in the
   commune's console. A small commune's secretary may well work alone, so this never blocks
   the opening.
7. **Ouvrir aux familles**: done when the commune is open (``Commune.opened_at``). It can
   only be done when every required step above is (console.services.open_commune).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from billing.models import PayfipMode, PaymentProvider, Regie
from demandes.models import RequestCategory
from foyer.formatting import format_day
from reservations.deadlines import RuleKind
from reservations.models import (
    Closure,
    Prestation,
    PrestationSite,
    PriceBracket,
    SchoolHoliday,
    Service,
    Site,
)
from reservations.opening import CommuneCalendar, closed_reason
from shared_identity.models import Invitation, StaffRole
from tenants.context import commune_context
from tenants.middleware import commune_urlconf
from tenants.models import Commune

# Each prestation must open at least one day within this many weeks from today.
OPENING_HORIZON_WEEKS = 12


class StepState(StrEnum):
    DONE = "fait"
    TODO = "a_faire"
    OPTIONAL = "facultatif"


STATE_LABELS = {
    StepState.DONE: gettext_lazy("Fait"),
    StepState.TODO: gettext_lazy("À faire"),
    StepState.OPTIONAL: gettext_lazy("Facultatif"),
}


@dataclass(frozen=True)
class Step:
    key: str
    title: str | Promise
    required: bool
    state: StepState
    url: str
    # What keeps the step from being done, in French.
    missing: tuple[str, ...] = ()
    # Advice that does not block the step.
    notes: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.state == StepState.DONE

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])


@dataclass(frozen=True)
class Checklist:
    commune: Commune
    steps: tuple[Step, ...]

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def is_open(self) -> bool:
        return self.commune.is_open

    @property
    def blocking_steps(self) -> tuple[Step, ...]:
        """The required steps not done yet that keep the commune from opening."""
        return tuple(s for s in self.steps if s.key != "open" and s.required and not s.done)

    @property
    def ready(self) -> bool:
        return not self.blocking_steps

    @property
    def next_step(self) -> Step | None:
        """The first required step still to do (the opening last), for the console's summary."""
        return next((s for s in self.steps if s.required and not s.done), None)


def get_onboarding_checklist(*, commune: Commune, today: dt.date | None = None) -> Checklist:
    """The checklist of ``commune``, read in its schema; ``today`` in the commune's time zone."""
    today = today or timezone.localdate(timezone=ZoneInfo(commune.timezone))
    urls = _Urls(commune)
    with commune_context(commune):
        facts = _facts(commune)
        prestations = _prestations()
        calendar = _calendar(today) if prestations else None
    steps = (
        _identity_step(commune, urls),
        _catalogue_step(facts, prestations, urls),
        _calendar_step(prestations, calendar, today, urls),
        _regie_step(facts, prestations, urls),
        _categories_step(facts, urls),
        _staff_step(facts, urls),
    )
    steps += (_open_step(commune, steps, urls),)
    return Checklist(commune=commune, steps=steps)


# --- Reads ------------------------------------------------------------------------------------------


class _Urls:
    def __init__(self, commune: Commune):
        self.urlconf = commune_urlconf(commune.slug)

    def __call__(self, name: str) -> str:
        return reverse(name, urlconf=self.urlconf)


def _count(queryset) -> Subquery:
    """COUNT(*) of ``queryset`` as a scalar subquery (grouped by a constant; an empty set
    gives no row, read as None, then 0)."""
    return Subquery(
        queryset.order_by().values(_one=Value(1)).annotate(_n=Count("pk")).values("_n")[:1],
        output_field=IntegerField(),
    )


@dataclass(frozen=True)
class _Facts:
    active_services: int
    sites: int
    visible_categories: int
    staff: int
    staff_invited: int
    regie_saved: bool
    online_payment: bool
    has_payment_account: bool  # a Mollie key, or a PayFiP client number
    payment_mode: str  # "test" or "live"


def _facts(commune: Commune) -> _Facts:
    """Every count and the régie in one query (public and commune tables side by side: the
    commune's search path holds both)."""
    regie = Regie.objects.order_by("pk")
    row = (
        Commune.objects.filter(pk=commune.pk)
        .annotate(
            active_services=_count(Service.objects.filter(is_active=True)),
            site_count=_count(Site.objects.all()),
            visible_categories=_count(RequestCategory.objects.filter(is_active=True, is_system=False)),
            staff_count=_count(StaffRole.objects.filter(commune_id=commune.pk)),
            staff_invited=_count(
                Invitation.objects.filter(
                    commune_id=commune.pk,
                    kind=Invitation.Kind.STAFF,
                    used_at__isnull=True,
                    expires_at__gt=timezone.now(),
                )
            ),
            regie_saved=Exists(regie.filter(saved_at__isnull=False)),
            online_payment=Exists(regie.filter(online_payment=True)),
            has_payment_account=Exists(
                regie.filter(
                    Q(payment_provider=PaymentProvider.MOLLIE, mollie_key_encrypted__gt="")
                    | Q(payment_provider=PaymentProvider.PAYFIP, payfip_numcli__gt="")
                )
            ),
            payment_mode=Subquery(
                regie.annotate(
                    mode=Case(
                        When(
                            payment_provider=PaymentProvider.PAYFIP,
                            payfip_saisie=PayfipMode.TEST,
                            then=Value("test"),
                        ),
                        When(payment_provider=PaymentProvider.PAYFIP, then=Value("live")),
                        default=F("mollie_mode"),
                    )
                ).values("mode")[:1]
            ),
        )
        .values(
            "active_services",
            "site_count",
            "visible_categories",
            "staff_count",
            "staff_invited",
            "regie_saved",
            "online_payment",
            "has_payment_account",
            "payment_mode",
        )
        .get()
    )
    return _Facts(
        active_services=row["active_services"] or 0,
        sites=row["site_count"] or 0,
        visible_categories=row["visible_categories"] or 0,
        staff=row["staff_count"] or 0,
        staff_invited=row["staff_invited"] or 0,
        regie_saved=bool(row["regie_saved"]),
        online_payment=bool(row["online_payment"]),
        has_payment_account=bool(row["has_payment_account"]),
        payment_mode=row["payment_mode"] or "",
    )


@dataclass(frozen=True)
class _Prestation:
    label: str
    service: str
    billing_mode: str
    weekdays: tuple[int, ...]
    period: str
    site_ids: tuple[int, ...]
    has_price: bool
    booking_deadline: bool
    cancellation_deadline: bool

    @property
    def complete(self) -> bool:
        return bool(self.site_ids) and self.has_price and self.booking_deadline and self.cancellation_deadline


def _has_deadline(rule: dict) -> bool:
    return bool(rule) and rule.get("kind", RuleKind.NONE) != RuleKind.NONE


def _prestations() -> list[_Prestation]:
    """The active prestations of the active services, with their sites and whether they have
    a price grid: one query."""
    rows = (
        Prestation.objects.filter(is_active=True, service__is_active=True)
        .annotate(
            site_ids=ArraySubquery(
                PrestationSite.objects.filter(prestation=OuterRef("pk")).order_by("site_id").values("site_id")
            ),
            has_brackets=Exists(PriceBracket.objects.filter(prestation=OuterRef("pk"))),
        )
        .order_by("service__name", "label", "pk")
        .values(
            "label",
            "service__name",
            "billing_mode",
            "weekdays",
            "period",
            "site_ids",
            "has_brackets",
            "base_price",
            "booking_rule",
            "cancellation_rule",
        )
    )
    return [
        _Prestation(
            label=row["label"],
            service=row["service__name"],
            billing_mode=row["billing_mode"],
            weekdays=tuple(day for day in (row["weekdays"] or []) if isinstance(day, int) and 0 <= day <= 6),
            period=row["period"],
            site_ids=tuple(row["site_ids"] or ()),
            has_price=row["base_price"] > 0 or row["has_brackets"],
            booking_deadline=_has_deadline(row["booking_rule"] or {}),
            cancellation_deadline=_has_deadline(row["cancellation_rule"] or {}),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class _Calendar:
    calendar: CommuneCalendar
    holidays_ahead: int
    until: dt.date


def _calendar(today: dt.date) -> _Calendar:
    until = today + dt.timedelta(weeks=OPENING_HORIZON_WEEKS)
    holidays = list(SchoolHoliday.objects.filter(end__gte=today).values_list("start", "end"))
    closures = Closure.objects.filter(date__gte=today, date__lte=until).values_list(
        "date", "site_id", "reason"
    )
    return _Calendar(
        calendar=CommuneCalendar.build(closures, holidays), holidays_ahead=len(holidays), until=until
    )


# --- Steps ------------------------------------------------------------------------------------------


def _step(
    key: str, title, url: str, missing: Sequence[str], notes: Sequence[str] = (), *, required: bool = True
) -> Step:
    if not missing:
        state = StepState.DONE
    else:
        state = StepState.TODO if required else StepState.OPTIONAL
    return Step(
        key=key,
        title=title,
        required=required,
        state=state,
        url=url,
        missing=tuple(missing),
        notes=tuple(notes),
    )


def _quoted(labels: list[str]) -> str:
    return ", ".join(f"« {label} »" for label in labels)


def _identity_step(commune: Commune, urls: _Urls) -> Step:
    from tenants.validation import brand_colour_problem

    missing, notes = [], []
    if not commune.contact_email:
        missing.append(_("L'adresse e-mail de contact des familles n'est pas renseignée."))
    if not commune.legal_mentions.strip():
        missing.append(_("Les mentions légales ne sont pas renseignées."))
    problem = brand_colour_problem(commune.brand_colour)
    if problem:
        missing.append(problem)
    if not commune.logo:
        notes.append(_("Pas de logo : le nom de la commune s'affiche seul (facultatif)."))
    return _step("identity", gettext_lazy("Identité et charte"), urls("console:identity"), missing, notes)


def _catalogue_step(facts: _Facts, prestations: list[_Prestation], urls: _Urls) -> Step:
    title = gettext_lazy("Services, sites, prestations, tarifs et délais")
    missing: list[str] = []
    url = urls("console:prestation_list")
    if not facts.active_services:
        missing.append(_("Aucun service actif n'est créé (par exemple « Restauration scolaire »)."))
        url = urls("console:service_create")
    if not facts.sites:
        missing.append(_("Aucun site n'est créé (une école, un centre de loisirs…)."))
        if facts.active_services:
            url = urls("console:site_create")
    if missing:
        return _step("catalogue", title, url, missing)
    if not prestations:
        missing.append(
            _("Aucune prestation active n'est créée dans un service actif (par exemple « Repas »).")
        )
        return _step("catalogue", title, urls("console:prestation_create"), missing)
    complete = [p for p in prestations if p.complete]
    notes = []
    if complete:
        notes.append(
            ngettext("Prestation prête : %(labels)s.", "Prestations prêtes : %(labels)s.", len(complete))
            % {"labels": _quoted([p.label for p in complete])}
        )
        drafts = [p.label for p in prestations if not p.complete]
        if drafts:
            notes.append(_("À compléter avant de la proposer : %(labels)s.") % {"labels": _quoted(drafts)})
        return _step("catalogue", title, url, [], notes)
    checks = (
        (lambda p: p.site_ids, _("Aucune prestation n'est proposée sur un site.")),
        (
            lambda p: p.has_price,
            _("Aucune prestation n'a de tarif (un prix de base ou des tranches de quotient)."),
        ),
        (lambda p: p.booking_deadline, _("Aucune prestation n'a de délai de réservation.")),
        (lambda p: p.cancellation_deadline, _("Aucune prestation n'a de délai d'annulation.")),
    )
    missing = [message for check, message in checks if not any(check(p) for p in prestations)]
    if not missing:
        # Each criterion is met by some prestation, but none meets them all.
        for p in prestations:
            lacks = []
            if not p.site_ids:
                lacks.append(_("aucun site"))
            if not p.has_price:
                lacks.append(_("aucun tarif"))
            if not p.booking_deadline:
                lacks.append(_("pas de délai de réservation"))
            if not p.cancellation_deadline:
                lacks.append(_("pas de délai d'annulation"))
            missing.append(_("« %(label)s » : %(lacks)s.") % {"label": p.label, "lacks": ", ".join(lacks)})
    return _step("catalogue", title, url, missing)


def _calendar_step(
    prestations: list[_Prestation], calendar: _Calendar | None, today: dt.date, urls: _Urls
) -> Step:
    title = gettext_lazy("Calendrier d'ouverture")
    url = urls("console:calendar")
    if not prestations or calendar is None:
        return _step(
            "calendar",
            title,
            urls("console:prestation_create"),
            [_("Créez d'abord une prestation : son calendrier en dépend.")],
        )
    missing, notes = [], []
    without_days = [p.label for p in prestations if not p.weekdays]
    if without_days:
        missing.append(
            _("Aucun jour d'ouverture n'est coché pour %(labels)s.") % {"labels": _quoted(without_days)}
        )
    follows_school = [p.label for p in prestations if p.period != Prestation.Period.ALL]
    if follows_school and not calendar.holidays_ahead:
        missing.append(
            _(
                "Aucune période de vacances scolaires à venir n'est saisie : %(labels)s suivent le "
                "calendrier scolaire et seraient ouvertes pendant les vacances."
            )
            % {"labels": _quoted(follows_school)}
        )
    closed = [
        p.label
        for p in prestations
        if p.weekdays and not _opens_before(p, calendar.calendar, today, calendar.until)
    ]
    if closed:
        missing.append(
            _(
                "%(labels)s n'ouvre aucun jour d'ici le %(day)s : vérifiez les jours d'ouverture, la "
                "période, les fermetures et les vacances."
            )
            % {"labels": _quoted(closed), "day": format_day(calendar.until)}
        )
    if calendar.holidays_ahead:
        notes.append(
            ngettext(
                "%(count)d période de vacances scolaires à venir est saisie.",
                "%(count)d périodes de vacances scolaires à venir sont saisies.",
                calendar.holidays_ahead,
            )
            % {"count": calendar.holidays_ahead}
        )
    return _step("calendar", title, url, missing, notes)


def _opens_before(prestation: _Prestation, calendar: CommuneCalendar, today: dt.date, until: dt.date) -> bool:
    sites = prestation.site_ids or (None,)
    day = today
    while day <= until:
        for site_id in sites:
            if (
                closed_reason(
                    weekdays=prestation.weekdays,
                    period=prestation.period,
                    site_id=site_id,
                    day=day,
                    calendar=calendar,
                )
                is None
            ):
                return True
        day += dt.timedelta(days=1)
    return False


def _regie_step(facts: _Facts, prestations: list[_Prestation], urls: _Urls) -> Step:
    missing, notes = [], []
    if not facts.regie_saved:
        missing.append(
            _(
                "Les réglages de la régie ne sont pas enregistrés : vérifiez son code (il figure "
                "dans la référence de chaque facture), le délai de paiement et le jour de facturation."
            )
        )
    prepaid = [p.label for p in prestations if p.billing_mode == Prestation.BillingMode.PREPAID]
    if prepaid and not facts.has_payment_account:
        missing.append(
            _(
                "La clé Mollie de test (ou le numéro client PayFiP) n'est pas enregistrée : elle est "
                "nécessaire car %(labels)s se paie à la réservation."
            )
            % {"labels": _quoted(prepaid)}
        )
    elif prepaid and not facts.online_payment:
        missing.append(
            _(
                "Le paiement en ligne n'est pas activé : il est nécessaire car %(labels)s se paie à la réservation."
            )
            % {"labels": _quoted(prepaid)}
        )
    if facts.has_payment_account and facts.payment_mode == "test":
        notes.append(
            _(
                "Le compte de paiement enregistré est en mode test : aucun paiement n'est réel tant "
                "que la clé Mollie « live » (ou le mode Production de PayFiP) n'est pas enregistrée."
            )
        )
    if not facts.online_payment and not prepaid:
        notes.append(_("Paiement en ligne désactivé : les familles paient leurs factures au guichet."))
    return _step(
        "regie", gettext_lazy("Régie et paiement en ligne"), urls("console:regie_list"), missing, notes
    )


def _categories_step(facts: _Facts, urls: _Urls) -> Step:
    missing, notes = [], []
    if not facts.visible_categories:
        missing.append(_("Aucune catégorie de demande n'est proposée aux familles."))
    else:
        notes.append(
            ngettext(
                "%(count)d catégorie est proposée aux familles : vérifiez qu'elle vous convient.",
                "%(count)d catégories sont proposées aux familles : vérifiez qu'elles vous conviennent.",
                facts.visible_categories,
            )
            % {"count": facts.visible_categories}
        )
    return _step(
        "categories",
        gettext_lazy("Catégories de demandes"),
        urls("console:request_category_list"),
        missing,
        notes,
    )


def _staff_step(facts: _Facts, urls: _Urls) -> Step:
    missing = []
    if facts.staff <= 1 and not facts.staff_invited:
        missing.append(
            _("Personne d'autre n'est invité dans l'équipe : invitez vos agents, ou continuez seul(e).")
        )
    notes = []
    if facts.staff_invited:
        notes.append(
            ngettext(
                "%(count)d invitation attend une réponse.",
                "%(count)d invitations attendent une réponse.",
                facts.staff_invited,
            )
            % {"count": facts.staff_invited}
        )
    return _step(
        "staff", gettext_lazy("Équipe (admin, agents)"), urls("console:staff"), missing, notes, required=False
    )


def _open_step(commune: Commune, steps: tuple[Step, ...], urls: _Urls) -> Step:
    title = gettext_lazy("Ouvrir aux familles")
    url = urls("console:onboarding") + "#ouvrir"
    if commune.is_open:
        opened = timezone.localtime(commune.opened_at, ZoneInfo(commune.timezone)).date()
        return _step(
            "open", title, url, [], [_("Ouverte aux familles le %(day)s.") % {"day": format_day(opened)}]
        )
    waiting = [str(s.title) for s in steps if s.required and not s.done]
    if waiting:
        missing = [_("Terminez d'abord : %(steps)s.") % {"steps": ", ".join(waiting)}]
    else:
        missing = [_("Tout est prêt : ouvrez l'espace famille quand vous le souhaitez.")]
    return _step("open", title, url, missing)
