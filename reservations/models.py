"""Services, sites and prestations of a commune (commune schema).

This is the catalogue a commune offers; booking rules, calendars, enrolments and
bookings build on it."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("La couleur s'écrit #RRGGBB."), "invalid_colour")


class Service(models.Model):
    name = models.CharField(_("nom"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("actif"), default=True)

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
    base_price = models.DecimalField(_("prix de base"), max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["service__name", "label"]
        verbose_name = _("prestation")
        verbose_name_plural = _("prestations")
        constraints = [
            models.UniqueConstraint(fields=["code"], name="prestation_code_unique"),
            models.CheckConstraint(
                condition=models.Q(base_price__gte=0), name="prestation_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"
