"""Reservations of a commune (commune schema): the catalogue (services, sites, prestations,
prices, capacities, calendar, deadline rules), enrolments, bookings, carts and cancellation
requests. Children and families are the shared identity's (public schema)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from foyer.uploads import private_storage
from tenants.references import identity_key

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("La couleur s'écrit #RRGGBB."), "invalid_colour")
MONEY = {"max_digits": 12, "decimal_places": 2}


def attachment_path(instance, filename: str) -> str:
    """Private files are stored under the commune's schema and a random name."""
    import uuid
    from pathlib import PurePath

    from django.db import connection

    return f"{connection.schema_name}/cancellations/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class Service(models.Model):
    class LateCancellation(models.TextChoices):
        NO_CREDIT = "no_credit", _("Jamais d'avoir")
        CREDIT_WITH_CERTIFICATE = "certificate", _("Avoir sur justificatif (certificat médical…)")
        AGENT_DECIDES = "agent", _("L'agent décide au cas par cas")

    name = models.CharField(_("nom"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("actif"), default=True)
    late_cancellation = models.CharField(
        _("annulation hors délai"),
        max_length=12,
        choices=LateCancellation.choices,
        default=LateCancellation.AGENT_DECIDES,
    )
    # The régie that bills it; none: the commune's first régie.
    regie = models.ForeignKey(
        "billing.Regie",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="services",
        verbose_name=_("régie"),
    )
    # What the yearly attestation for the childcare tax credit lists (billing.attestations):
    # périscolaire and centre de loisirs qualify; school meals do not.
    tax_credit_eligible = models.BooleanField(
        _("ouvre droit au crédit d'impôt pour frais de garde"),
        default=False,
        help_text=_(
            "Garde des enfants de moins de 6 ans hors du domicile (périscolaire, accueil de loisirs). "
            "Les repas de la cantine n'y ouvrent pas droit."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("service")
        verbose_name_plural = _("services")

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    name = models.CharField(_("nom"), max_length=120, unique=True)
    address = models.CharField(_("adresse"), max_length=255, blank=True)
    services = models.ManyToManyField(Service, related_name="sites", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class Prestation(models.Model):
    class BillingMode(models.TextChoices):
        PREPAID = "prepaid", _("Payée à la réservation")
        MONTH_END = "month_end", _("Facturée en fin de mois")

    class Period(models.TextChoices):
        SCHOOL = "school", _("Hors vacances scolaires")
        HOLIDAYS = "holidays", _("Pendant les vacances scolaires")
        ALL = "all", _("Toute l'année")

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="prestations")
    label = models.CharField(_("libellé"), max_length=120)
    code = models.CharField(
        _("code"),
        max_length=12,
        validators=[RegexValidator(r"^[A-Z0-9_]+$", _("Majuscules, chiffres et _ seulement."))],
    )
    colour = models.CharField(_("couleur"), max_length=7, default="#2563eb", validators=[colour_validator])
    billing_mode = models.CharField(
        _("mode de facturation"), max_length=10, choices=BillingMode.choices, default=BillingMode.MONTH_END
    )
    # Opening calendar: weekdays (0 = Monday) and school periods; closures and public
    # holidays close it too.
    weekdays = models.JSONField(_("jours d'ouverture"), default=list)
    period = models.CharField(_("période"), max_length=10, choices=Period.choices, default=Period.SCHOOL)
    start_time = models.TimeField(_("heure de début"), null=True, blank=True)
    # Deadline rules (reservations.deadlines.DeadlineRule.to_dict()); booking and cancelling apart.
    booking_rule = models.JSONField(_("délai de réservation"), default=dict)
    cancellation_rule = models.JSONField(_("délai d'annulation"), default=dict)
    # Price grid: the base price, quotient-familial brackets (PriceBracket), and two
    # prices families must know before they are billed.
    base_price = models.DecimalField(_("prix de base"), **MONEY)
    late_price = models.DecimalField(
        _("prix hors délai"),
        null=True,
        blank=True,
        help_text=_("Vide : pas de réservation hors délai."),
        **MONEY,
    )
    unbooked_presence_price = models.DecimalField(
        _("prix d'une présence sans réservation"), null=True, blank=True, **MONEY
    )
    sites = models.ManyToManyField(Site, through="PrestationSite", related_name="prestations")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["service__name", "label"]
        verbose_name = _("prestation")
        verbose_name_plural = _("prestations")
        constraints = [
            models.UniqueConstraint(fields=["code"], name="prestation_code_unique"),
            models.CheckConstraint(condition=Q(base_price__gte=0), name="prestation_price_not_negative"),
            models.CheckConstraint(condition=Q(late_price__gte=0), name="prestation_late_price_not_negative"),
            models.CheckConstraint(
                condition=Q(unbooked_presence_price__gte=0), name="prestation_unbooked_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"


class PrestationSite(models.Model):
    """Where a prestation is offered, with an optional capacity per day."""

    prestation = models.ForeignKey(Prestation, on_delete=models.CASCADE, related_name="offers")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="offers")
    capacity = models.PositiveIntegerField(_("places par jour"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prestation", "site"], name="prestation_site_unique")]

    def __str__(self) -> str:
        return f"{self.prestation} @ {self.site}"


class PriceBracket(models.Model):
    """A quotient-familial bracket: families whose QF is in [qf_min, qf_max] pay this price."""

    prestation = models.ForeignKey(Prestation, on_delete=models.CASCADE, related_name="brackets")
    qf_min = models.PositiveIntegerField(_("QF minimum"))
    qf_max = models.PositiveIntegerField(_("QF maximum"), null=True, blank=True)
    price = models.DecimalField(_("prix"), **MONEY)

    class Meta:
        ordering = ["prestation", "qf_min"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="bracket_price_not_negative"),
            models.CheckConstraint(
                condition=Q(qf_max__isnull=True) | Q(qf_max__gte=models.F("qf_min")),
                name="bracket_bounds_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prestation.code} QF {self.qf_min}–{self.qf_max or '∞'}"


class Closure(models.Model):
    """A day a site (or every site) is closed: strike, works, bridge day."""

    date = models.DateField(_("date"))
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="closures")
    reason = models.CharField(_("motif"), max_length=200)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["date", "site"], nulls_distinct=False, name="one_closure_per_site_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}"


class SchoolHoliday(models.Model):
    name = models.CharField(_("nom"), max_length=120)
    start = models.DateField(_("premier jour"))
    end = models.DateField(_("dernier jour"))

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="holiday_ordered")
        ]

    def __str__(self) -> str:
        return self.name


class QuotientFamilial(models.Model):
    """A family's quotient familial in this commune, from a date."""

    family = identity_key("shared_identity.Family")
    value = models.PositiveIntegerField(_("quotient familial"))
    valid_from = models.DateField(_("à partir du"))

    class Meta:
        ordering = ["family", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["family", "valid_from"], name="qf_unique_per_date")]

    def __str__(self) -> str:
        return f"QF {self.value} ({self.valid_from})"


class Enrolment(models.Model):
    """A child enrolled in a service at a site for a period: only enrolled children book."""

    child = identity_key("shared_identity.Child")
    family = identity_key("shared_identity.Family")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="enrolments")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="enrolments")
    start = models.DateField(_("du"))
    end = models.DateField(_("au"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="enrolment_ordered"),
            models.UniqueConstraint(fields=["child", "service", "site", "start"], name="enrolment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} → {self.service_id}@{self.site_id} {self.start}–{self.end}"


class Slot(models.Model):
    """Places taken for one prestation at one site on one day: the row that is locked."""

    prestation = models.ForeignKey(Prestation, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    taken = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prestation", "site", "date"], name="slot_unique")]

    def __str__(self) -> str:
        return f"{self.prestation_id}@{self.site_id} {self.date}: {self.taken}"


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("En cours")
        AWAITING_PAYMENT = "awaiting_payment", _("En attente de paiement")
        VALIDATED = "validated", _("Validé")
        EXPIRED = "expired", _("Expiré")
        CANCELLED = "cancelled", _("Annulé")

    family = identity_key("shared_identity.Family")
    account = identity_key(settings.AUTH_USER_MODEL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    hold_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["family"], condition=Q(status="open"), name="one_open_cart_per_family"
            ),
        ]

    def __str__(self) -> str:
        return f"panier {self.pk} ({self.status})"


class CartItem(models.Model):
    class Action(models.TextChoices):
        BOOK = "book", _("Réserver")
        CANCEL = "cancel", _("Annuler")

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    action = models.CharField(max_length=6, choices=Action.choices)
    child = identity_key("shared_identity.Child")
    prestation = models.ForeignKey(Prestation, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()

    class Meta:
        ordering = ["date", "prestation"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "child", "prestation", "date"], name="cart_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} {self.prestation_id} {self.date}"


class Booking(models.Model):
    class Status(models.TextChoices):
        HELD = "held", _("En attente de paiement")
        CONFIRMED = "confirmed", _("Réservé")
        CANCELLED = "cancelled", _("Annulé")
        ATTENDED = "attended", _("Présent")
        ABSENT = "absent", _("Absent")
        ABSENT_JUSTIFIED = "absent_justified", _("Absence justifiée")

    # Statuses that hold a place.
    ACTIVE = (Status.HELD, Status.CONFIRMED, Status.ATTENDED, Status.ABSENT, Status.ABSENT_JUSTIFIED)
    # The only transitions services may apply (reservations.services.bookings.transition).
    TRANSITIONS = {
        Status.HELD: {Status.CONFIRMED, Status.CANCELLED},
        Status.CONFIRMED: {Status.CANCELLED, Status.ATTENDED, Status.ABSENT, Status.ABSENT_JUSTIFIED},
        Status.ATTENDED: {Status.ABSENT, Status.ABSENT_JUSTIFIED, Status.CONFIRMED},
        Status.ABSENT: {Status.ATTENDED, Status.ABSENT_JUSTIFIED, Status.CONFIRMED},
        Status.ABSENT_JUSTIFIED: {Status.ATTENDED, Status.ABSENT, Status.CONFIRMED},
        Status.CANCELLED: set(),
    }

    child = identity_key("shared_identity.Child")
    family = identity_key("shared_identity.Family")
    prestation = models.ForeignKey(Prestation, on_delete=models.PROTECT, related_name="bookings")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="bookings")
    date = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices)
    cart = models.ForeignKey(Cart, on_delete=models.SET_NULL, null=True, blank=True, related_name="bookings")
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    price = models.DecimalField(**MONEY)
    late = models.BooleanField(default=False)
    unbooked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    cancel_reason = models.CharField(max_length=255, blank=True)
    attendance_marked_at = models.DateTimeField(null=True, blank=True)
    attendance_marked_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)

    class Meta:
        ordering = ["date", "prestation"]
        indexes = [
            models.Index(fields=["family", "date"], name="booking_family_date"),
            models.Index(fields=["site", "date", "prestation"], name="booking_site_day"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["child", "prestation", "date"],
                condition=~Q(status="cancelled"),
                name="one_live_booking_per_child_day",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="booking_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} {self.prestation_id} {self.date} ({self.status})"


class CancellationRequest(models.Model):
    """A family asks to cancel after the deadline; an agent decides."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        ACCEPTED = "accepted", _("Acceptée")
        REFUSED = "refused", _("Refusée")

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="cancellation_requests")
    # The other bookings the same request covers (several days, several children: one reason,
    # one certificate), when the family signals absences in a batch from its cart.
    extra_bookings = models.ManyToManyField(Booking, related_name="+", blank=True)
    family = identity_key("shared_identity.Family")
    account = identity_key(settings.AUTH_USER_MODEL)
    reason = models.TextField(_("motif"))
    attachment = models.FileField(
        _("justificatif"), upload_to=attachment_path, storage=private_storage, blank=True
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    credit = models.BooleanField(default=False)
    comment = models.TextField(_("commentaire"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking"], condition=Q(status="pending"), name="one_pending_request_per_booking"
            ),
        ]

    def __str__(self) -> str:
        return f"demande {self.pk} ({self.status})"

    def all_bookings(self) -> list[Booking]:
        """Every booking the request covers, by date."""
        return sorted([self.booking, *self.extra_bookings.all()], key=lambda b: (b.date, b.child_id, b.pk))


class BookingCredit(models.Model):
    """Money owed back to a family for a prepaid booking (cancelled in time, mass
    cancellation, accepted request). The billing run turns these into credit notes."""

    booking = models.OneToOneField(Booking, on_delete=models.PROTECT, related_name="credit")
    family = identity_key("shared_identity.Family")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_positive")]

    def __str__(self) -> str:
        return f"avoir {self.amount} ({self.booking_id})"
