"""The audit log of a commune (commune schema): one row per change its staff made, never
changed nor removed once written (see audit/__init__.py for why and how)."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.references import identity_key


class AppendOnly(Exception):
    """An audit entry was about to be changed or deleted."""


class AuditEntryQuerySet(models.QuerySet):
    """Reads and inserts only: bulk updates and deletes are refused here, and by a trigger in
    the database for anything that does not go through Django."""

    def update(self, **kwargs):
        raise AppendOnly("Audit entries are append-only.")

    def delete(self):
        raise AppendOnly("Audit entries are append-only.")

    _raw_delete = delete


class AuditEntry(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrateur")
        AGENT = "agent", _("Agent")
        OPERATOR = "operator", _("Opérateur de la plateforme")

    created_at = models.DateTimeField(_("date"), default=timezone.now)
    # The account, while it exists; the label is copied so that the entry still says who it
    # was once the account is anonymised or gone.
    actor = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True)
    actor_label = models.CharField(_("auteur"), max_length=320)
    role = models.CharField(_("rôle"), max_length=10, choices=Role.choices)
    # A stable code: "<object type>.<verb>" (prestation.update, booking.mass_cancel…).
    action = models.CharField(_("action"), max_length=60)
    object_type = models.CharField(_("type d'objet"), max_length=40, blank=True)
    object_id = models.CharField(_("identifiant"), max_length=64, blank=True)
    object_label = models.CharField(_("objet"), max_length=255, blank=True)
    summary = models.TextField(_("résumé"))
    # {field: [before, after]} for a change; {"after": {...}} for a creation and
    # {"before": {...}} for a deletion; what an operation says for an explicit entry.
    changes = models.JSONField(_("modifications"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("entrées du journal")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_recent"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action"], name="audit_action"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["admin", "agent", "operator"]), name="audit_role_known"
            ),
            models.CheckConstraint(condition=~models.Q(action=""), name="audit_action_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Audit entries are append-only.")
