"""Billing of a commune (commune schema): its régies, month-end invoicing runs, invoices
numbered without gaps per régie (or imported from the commune's own billing software),
payments (online and at the counter), their receipts, and credit notes."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePath

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from foyer.formatting import format_days
from foyer.hashers import hash_token  # noqa: F401  (re-exported: the régie keys)
from foyer.uploads import private_storage
from tenants.references import identity_key

MONEY = {"max_digits": 12, "decimal_places": 2}
DEFAULT_REFERENCE_FORMAT = "{annee}-{regie}-00-{numero}"
_REFERENCE_TOKEN = re.compile(r"\{(annee|regie|numero(?::0[1-9])?)\}")


def render_reference(pattern: str, *, year: int, regie_code: str, number: int) -> str:
    """{annee}, {regie}, {numero} or {numero:06} (zero-padded) → 2027-CA-00-154."""

    def token(match: re.Match) -> str:
        name = match.group(1)
        if name == "annee":
            return str(year)
        if name == "regie":
            return regie_code
        width = int(name.split(":0")[1]) if ":0" in name else 0
        return str(number).zfill(width)

    return _REFERENCE_TOKEN.sub(token, pattern)


def validate_reference_format(pattern: str) -> None:
    leftover = _REFERENCE_TOKEN.sub("", pattern)
    if "{numero" not in pattern or "{" in leftover or "}" in leftover:
        raise ValidationError(
            _(
                "Utilisez {annee}, {regie} et {numero} (ou {numero:06} pour 6 chiffres) ; {numero} est obligatoire."
            )
        )


class PaymentProvider(models.TextChoices):
    MOLLIE = "mollie", _("Mollie")
    PAYFIP = "payfip", _("PayFiP (DGFiP)")


class PayfipMode(models.TextChoices):
    """PayFiP's "saisie" (eopayment's name): test, activation, production."""

    TEST = "T", _("Test")
    ACTIVATION = "X", _("Activation")
    PRODUCTION = "W", _("Production")


def regie_signature_path(instance: Regie, filename: str) -> str:
    from django.db import connection

    return f"{connection.schema_name}/regies/signature-{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class Regie(models.Model):
    """A régie de recettes: one régisseur, one account, one number series. A commune has one
    or more (its canteen and its périscolaire may be two); each service is billed by one, and
    each collects online through its own provider (Mollie or PayFiP)."""

    class Source(models.TextChoices):
        FOYER = "foyer", _("Factures préparées dans Foyer")
        IMPORTED = "imported", _("Factures importées du logiciel de la commune")

    name = models.CharField(_("nom"), max_length=120)
    regie_code = models.CharField(
        _("code de la régie"),
        max_length=4,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9]{1,4}$", _("1 à 4 majuscules ou chiffres."))],
    )
    source = models.CharField(
        _("origine des factures"), max_length=10, choices=Source.choices, default=Source.FOYER
    )
    reference_format = models.CharField(
        _("format des références"),
        max_length=40,
        default=DEFAULT_REFERENCE_FORMAT,
        validators=[validate_reference_format],
        help_text=_("Par exemple {annee}-{regie}-00-{numero} donne 2027-CA-00-154."),
    )
    due_days = models.PositiveSmallIntegerField(
        _("délai de paiement (jours)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    invoicing_day = models.PositiveSmallIntegerField(
        _("jour de la facturation mensuelle"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("Le jour du mois où la facturation du mois précédent est préparée."),
    )
    online_payment = models.BooleanField(_("paiement en ligne"), default=False)
    payment_provider = models.CharField(
        _("service de paiement en ligne"),
        max_length=10,
        choices=PaymentProvider.choices,
        default=PaymentProvider.MOLLIE,
        help_text=_(
            "Mollie (carte, virement) avec la clé API de la régie, ou PayFiP, le service gratuit de la DGFiP "
            "pour les collectivités, avec le numéro client de la régie."
        ),
    )
    payfip_numcli = models.CharField(
        _("numéro client PayFiP"),
        max_length=6,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{6}$", _("Le numéro client PayFiP compte 6 chiffres."))],
        help_text=_("Les 6 chiffres donnés par la DGFiP à l'adhésion de la régie à PayFiP."),
    )
    payfip_saisie = models.CharField(
        _("mode PayFiP"),
        max_length=1,
        choices=PayfipMode.choices,
        default=PayfipMode.TEST,
        help_text=_(
            "Test : aucun argent n'est encaissé. Activation : les premiers paiements réels, pendant que la "
            "DGFiP valide la régie. Production : les paiements réels."
        ),
    )
    direct_debit_enabled = models.BooleanField(
        _("prélèvement automatique"),
        default=False,
        help_text=_(
            "Les familles peuvent signer un mandat SEPA depuis « Mes factures » : leurs factures sont "
            "prélevées à l'échéance. Avec Mollie seulement."
        ),
    )
    mollie_key_encrypted = models.TextField(blank=True)
    mollie_mode = models.CharField(max_length=4, blank=True)
    mollie_checked_at = models.DateTimeField(null=True, blank=True)
    # When an admin last saved this régie (onboarding asks for it once).
    saved_at = models.DateTimeField(null=True, blank=True)
    # What the yearly attestations say of the régie beside its name and code.
    address = models.TextField(
        _("adresse et contact de la régie"),
        blank=True,
        max_length=500,
        help_text=_(
            "Imprimés sur les attestations de paiement, par exemple l'adresse du guichet et son téléphone."
        ),
    )
    # The régisseur's scanned signature, printed on the attestations (private file).
    signature = models.FileField(
        upload_to=regie_signature_path, storage=private_storage, max_length=255, blank=True
    )

    class Meta:
        ordering = ["pk"]
        verbose_name = _("régie")

    def __str__(self) -> str:
        return self.name or self.regie_code

    @property
    def imported(self) -> bool:
        return self.source == self.Source.IMPORTED

    @property
    def payfip(self) -> bool:
        return self.payment_provider == PaymentProvider.PAYFIP


class InvoiceCounter(models.Model):
    """The last number a régie gave in a year, per kind of document: locked while numbering,
    so numbers have no gap."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Factures")
        CREDIT_NOTE = "credit_note", _("Avoirs")
        RECEIPT = "receipt", _("Reçus")

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["regie", "kind", "year"], name="one_counter_per_regie_kind_year")
        ]

    def __str__(self) -> str:
        return f"{self.regie_id} {self.kind} {self.year}: {self.last_number}"


class InvoicingRun(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        ISSUED = "issued", _("Émise")

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="runs")
    period_start = models.DateField(_("début"))
    period_end = models.DateField(_("fin"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    journal = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["regie", "period_start"], name="one_run_per_regie_and_period")
        ]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m} ({self.status})"

    def save(self, *args, **kwargs):
        if self.regie_id is None:
            self.regie_id = default_regie_id()
        super().save(*args, **kwargs)


def default_regie_id() -> int:
    """The commune's first régie, created when it has none: it bills the services that
    are not attached to another one."""
    regie = Regie.objects.order_by("pk").first()
    if regie is None:
        regie = Regie.objects.create(name=str(_("Régie principale")), regie_code="RG")
    return regie.pk


def invoice_pdf_path(instance: Invoice, filename: str) -> str:
    from django.db import connection

    return f"{connection.schema_name}/invoices/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        ISSUED = "issued", _("À payer")
        PAID = "paid", _("Payée")

    class Source(models.TextChoices):
        FOYER = "foyer", _("Foyer")
        IMPORTED = "imported", _("Importée")

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="invoices")
    # Foyer's own invoices come from a run; imported ones from the commune's software.
    run = models.ForeignKey(
        InvoicingRun, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FOYER)
    family = identity_key("shared_identity.Family")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    year = models.PositiveIntegerField(null=True, blank=True)
    number = models.PositiveIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=40, blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    total = models.DecimalField(**MONEY)
    paid_amount = models.DecimalField(default=0, **MONEY)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    # The payer as they were when the invoice was issued (legal document).
    payer_name = models.CharField(max_length=255, blank=True)
    payer_address = models.TextField(blank=True)
    dossier_number = models.CharField(max_length=30, blank=True)
    hidden_by_family = models.BooleanField(default=False)
    # An imported invoice's own document, as the commune's software made it.
    pdf = models.FileField(upload_to=invoice_pdf_path, storage=private_storage, max_length=255, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["regie", "year", "number"],
                condition=Q(number__isnull=False),
                name="invoice_number_unique_per_regie",
            ),
            models.UniqueConstraint(
                fields=["regie", "reference"], condition=~Q(reference=""), name="invoice_reference_unique"
            ),
            models.UniqueConstraint(fields=["run", "family"], name="one_invoice_per_family_per_run"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False) | Q(source="imported"),
                name="issued_invoice_is_numbered",
            ),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="invoice_paid_not_negative"),
        ]

    def __str__(self) -> str:
        return self.reference or f"brouillon {self.pk}"

    def save(self, *args, **kwargs):
        if self.regie_id is None:
            self.regie_id = self.run.regie_id if self.run_id else default_regie_id()
        super().save(*args, **kwargs)

    @property
    def amount_due(self):
        return max(self.total - self.paid_amount, 0)


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        BOOKING = "booking", _("Réservations")
        LATE = "late", _("Hors délai")
        UNBOOKED = "unbooked", _("Présence sans réservation")
        CREDIT = "credit", _("Avoir")

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=255)
    child_name = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    # The days billed by this line (bookings, late bookings, presences without booking).
    dates = ArrayField(models.DateField(), default=list, blank=True)
    credit = models.ForeignKey(
        "reservations.BookingCredit", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    credit_note = models.ForeignKey(
        "CreditNote", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The service billed (the attestations of payments split what was paid per service);
    # empty on lines billed before it was kept, on imported lines and on credit notes.
    # Unindexed: nothing searches lines by service (every index is a relation in each schema).
    service = models.ForeignKey(
        "reservations.Service",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.label} × {self.quantity}"

    @property
    def days_label(self) -> str:
        """ "lun. 4, mar. 5, jeu. 7 janv." (empty when the line has no dates)."""
        return format_days(self.dates)


class Payment(models.Model):
    """Money received for an invoice: online (Mollie) or at the counter."""

    class Method(models.TextChoices):
        ONLINE = "online", _("Paiement en ligne")
        CASH = "cash", _("Espèces")
        CHECK = "check", _("Chèque")
        CESU = "cesu", _("CESU")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    attempt = models.ForeignKey(
        "PaymentAttempt", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    method = models.CharField(max_length=10, choices=Method.choices)
    amount = models.DecimalField(**MONEY)
    received_at = models.DateTimeField()
    reference = models.CharField(max_length=100, blank=True)
    recorded_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    receipt = models.ForeignKey(
        "Receipt", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive")]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount}"


class PaymentAttempt(models.Model):
    """One online payment at the régie's provider (Mollie or PayFiP). Created and committed before the
    provider is called, with a fixed idempotency key; the webhook URL carries a per-attempt
    token nobody can guess."""

    class Status(models.TextChoices):
        CREATED = "created", _("Créé")
        OPEN = "open", _("En cours")
        PENDING = "pending", _("En attente")
        AUTHORIZED = "authorized", _("Autorisé")
        PAID = "paid", _("Payé")
        FAILED = "failed", _("Échoué")
        CANCELED = "canceled", _("Annulé")
        EXPIRED = "expired", _("Expiré")

    FINAL = (Status.PAID, Status.FAILED, Status.CANCELED, Status.EXPIRED)

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="attempts")
    family = identity_key("shared_identity.Family")
    account = identity_key(settings.AUTH_USER_MODEL)
    invoices = models.ManyToManyField(Invoice, related_name="payment_attempts", blank=True)
    cart = models.ForeignKey(
        "reservations.Cart", on_delete=models.PROTECT, null=True, blank=True, related_name="payment_attempts"
    )
    amount = models.DecimalField(**MONEY)
    description = models.CharField(max_length=255)
    idempotency_key = models.CharField(max_length=64, unique=True)
    webhook_token = models.CharField(max_length=64, unique=True)
    provider_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    mode = models.CharField(max_length=4, blank=True)
    checkout_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED)
    amount_refunded = models.DecimalField(default=0, **MONEY)
    amount_charged_back = models.DecimalField(default=0, **MONEY)
    flagged = models.CharField(max_length=255, blank=True, help_text=_("Ce qu'un agent doit regarder."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_positive")]

    def __str__(self) -> str:
        return f"{self.provider_id or self.idempotency_key} ({self.status})"

    def save(self, *args, **kwargs):
        if self.regie_id is None:
            self.regie_id = default_regie_id()
        super().save(*args, **kwargs)


class PaymentEvent(models.Model):
    """Append-only log of what the provider said about an attempt, keyed by its reference."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="events")
    source = models.CharField(max_length=12)  # create, webhook, return, reconcile, refund
    provider_status = models.CharField(max_length=12, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.attempt_id} {self.source} {self.provider_status}"


class Refund(models.Model):
    """Money given back through the provider; the idempotency key is fixed before the call.
    A provider without refunds (PayFiP): the régie gives the money back outside Foyer and the
    refund is only recorded here (``outside_provider``)."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=255)
    idempotency_key = models.CharField(max_length=64, unique=True)
    provider_id = models.CharField(max_length=64, blank=True)
    outside_provider = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_positive")]

    def __str__(self) -> str:
        if self.outside_provider:
            return f"{self.amount} (hors Foyer)"
        return f"{self.amount} ({self.provider_id or 'en attente'})"


class CreditNote(models.Model):
    """An avoir: the correction of an issued invoice, which is never edited. It is deducted
    from the family's next invoice (or refunded through the provider)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    family = identity_key("shared_identity.Family")
    # Numbered in the régie's own series of credit notes (AV2027-CA-0001).
    year = models.PositiveIntegerField(null=True, blank=True)
    number = models.PositiveIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=40, blank=True)
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    applied_at = models.DateTimeField(null=True, blank=True)
    refund = models.OneToOneField(
        "Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_note"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_positive"),
            models.UniqueConstraint(
                fields=["reference"], condition=~Q(reference=""), name="credit_note_reference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"avoir {self.amount} sur {self.invoice}"


class Receipt(models.Model):
    """The proof of one payment, online or at the counter, numbered in the régie's series of
    receipts (RC2027-CA-00001). ``items`` lists what was paid: [{"label", "amount"}]."""

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="receipts")
    family = identity_key("shared_identity.Family")
    year = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    reference = models.CharField(max_length=40)
    payer_name = models.CharField(max_length=255, blank=True)
    method = models.CharField(max_length=10, choices=Payment.Method.choices)
    amount = models.DecimalField(**MONEY)
    received_at = models.DateTimeField()
    provider_reference = models.CharField(max_length=100, blank=True)
    attempt = models.OneToOneField(
        PaymentAttempt, on_delete=models.PROTECT, null=True, blank=True, related_name="receipt"
    )
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["regie", "year", "number"], name="receipt_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="receipt_positive"),
        ]

    def __str__(self) -> str:
        return self.reference


class RegieApiToken(models.Model):
    """A key the commune's billing software uses to push invoices to one régie and read its
    payments back. Only its hash is stored; revoked, it opens nothing."""

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(_("nom"), max_length=120)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AttestationRun(models.Model):
    """An administrator's "issue the attestations of a year": every family with payments that
    year gets its attestations by e-mail, once (unless ``resend``)."""

    year = models.PositiveIntegerField()
    resend = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    families = models.PositiveIntegerField(default=0)
    generated = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    already_sent = models.PositiveIntegerField(default=0)
    without_email = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"attestations {self.year} ({self.pk})"


class AttestationSending(models.Model):
    """A family's attestations of a year were e-mailed: a new run skips it."""

    # The unique constraint's index serves the searches by family; runs are never deleted.
    family = identity_key("shared_identity.Family", db_index=False)
    year = models.PositiveIntegerField()
    run = models.ForeignKey(AttestationRun, on_delete=models.PROTECT, related_name="sendings", db_index=False)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["family", "year"], name="one_attestation_sending_per_family_year")
        ]

    def __str__(self) -> str:
        return f"{self.family_id} {self.year}"


class DebitMandate(models.Model):
    """A family's SEPA direct-debit mandate in the régie's Mollie account, signed through a
    first payment made for a Mollie customer. Foyer keeps the provider's references, the last
    four characters of the IBAN and the holder's name: never the IBAN."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En cours de signature")
        VALID = "valid", _("Actif")
        INVALID = "invalid", _("Non signé")
        REVOKED = "revoked", _("Révoqué")

    LIVE = (Status.PENDING, Status.VALID)

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="mandates")
    family = identity_key("shared_identity.Family")
    account = identity_key(settings.AUTH_USER_MODEL, db_index=False)
    customer_id = models.CharField(max_length=64)
    mandate_id = models.CharField(max_length=64, blank=True)
    first_attempt = models.OneToOneField(
        PaymentAttempt, on_delete=models.PROTECT, null=True, blank=True, related_name="mandate_signup"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    iban_last4 = models.CharField(max_length=4, blank=True)
    holder_name = models.CharField(max_length=255, blank=True)
    signed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["regie", "family"],
                # Written as OR, not IN: a cloned schema deparses an IN list differently.
                condition=Q(status="pending") | Q(status="valid"),
                name="one_live_mandate_per_family_and_regie",
            ),
            models.UniqueConstraint(
                fields=["mandate_id"], condition=~Q(mandate_id=""), name="mandate_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mandate_id or self.customer_id} ({self.status})"

    @property
    def masked_iban(self) -> str:
        return f"•••• {self.iban_last4}" if self.iban_last4 else ""


class DirectDebit(models.Model):
    """The debit of one invoice on its due date through a valid mandate: one per invoice
    (the database says so), submitted once, as one recurring payment at the provider."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Prévu")
        SUBMITTED = "submitted", _("En cours")
        PAID = "paid", _("Prélevé")
        FAILED = "failed", _("Échoué")
        CANCELED = "canceled", _("Annulé")

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="direct_debit")
    mandate = models.ForeignKey(DebitMandate, on_delete=models.PROTECT, related_name="debits")
    collect_on = models.DateField()
    amount = models.DecimalField(**MONEY)
    attempt = models.OneToOneField(
        PaymentAttempt, on_delete=models.PROTECT, null=True, blank=True, related_name="direct_debit"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    # Why it failed or was canceled, for the agent and the family.
    outcome = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collect_on", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="direct_debit_positive")]

    def __str__(self) -> str:
        return f"{self.invoice_id} le {self.collect_on} ({self.status})"
