"""The family layer's own rows (public schema): payment plans, which chain one checkout per
régie when a family pays invoices or prepaid carts of several communes and régies at once."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 12, "decimal_places": 2}


class PaymentPlan(models.Model):
    """What a family chose to pay in one go; kept until every step is paid or the family
    drops it, so it can stop and come back."""

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"plan {self.pk}"


class PaymentPlanStep(models.Model):
    """One checkout: the invoices (or a prepaid cart's held bookings) of one régie of one
    commune. ``attempt_id`` is the commune's PaymentAttempt of the latest try."""

    class Status(models.TextChoices):
        TO_PAY = "to_pay", _("À payer")
        IN_PROGRESS = "in_progress", _("Paiement en cours")
        FAILED = "failed", _("Paiement non abouti")
        PAID = "paid", _("Payé")
        DROPPED = "dropped", _("Plus à payer")

    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    commune = models.ForeignKey("tenants.Commune", on_delete=models.CASCADE, related_name="+")
    regie_id = models.BigIntegerField()
    label = models.CharField(max_length=255)
    invoice_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    cart_id = models.BigIntegerField(null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    attempt_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TO_PAY)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [models.UniqueConstraint(fields=["plan", "position"], name="one_step_per_position")]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @property
    def open(self) -> bool:
        return self.status in (self.Status.TO_PAY, self.Status.IN_PROGRESS, self.Status.FAILED)
