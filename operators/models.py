"""What the operators watch (public schema): Celery tasks that failed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TaskFailure(models.Model):
    """One failed run of a Celery task, written by the ``task_failure`` signal handler
    (``operators.signals``) and shown on the health page. Rows older than
    ``FAILURE_RETENTION_DAYS`` are pruned as new ones come."""

    task_name = models.CharField(_("tâche"), max_length=200)
    task_id = models.CharField(_("identifiant"), max_length=64, blank=True)
    schema_name = models.CharField(_("schéma"), max_length=63, blank=True)
    exception = models.TextField(_("erreur"))
    traceback = models.TextField(_("trace"), blank=True)
    failed_at = models.DateTimeField(_("échouée le"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-failed_at", "-pk"]
        verbose_name = _("tâche échouée")
        verbose_name_plural = _("tâches échouées")

    def __str__(self) -> str:
        return f"{self.task_name} ({self.failed_at:%Y-%m-%d %H:%M})"
