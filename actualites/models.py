"""A commune's news (actualités) and who has read them. Tenant tables."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.references import identity_key

TITLE_MAX_LENGTH = 200


class NewsItemQuerySet(models.QuerySet):
    def visible_at(self, now: dt.datetime) -> NewsItemQuerySet:
        """What families see at `now`: published, not yet expired."""
        return self.filter(publish_at__lte=now).filter(Q(unpublish_at__isnull=True) | Q(unpublish_at__gt=now))


class NewsItem(models.Model):
    """One piece of news of the commune. Its state is derived from its publication window:
    no ``publish_at`` is a draft; ``publish_at`` in the future is scheduled; then published
    until ``unpublish_at`` (if any), expired after it."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SCHEDULED = "scheduled", _("Programmée")
        PUBLISHED = "published", _("Publiée")
        EXPIRED = "expired", _("Expirée")

    # What staff may do to an item in each state (the state itself moves with time and with
    # the publication window chosen on the form).
    ACTIONS = {
        State.DRAFT: frozenset({"edit", "delete"}),
        State.SCHEDULED: frozenset({"edit", "delete"}),
        State.PUBLISHED: frozenset({"edit", "withdraw", "delete"}),
        State.EXPIRED: frozenset({"edit", "delete"}),
    }

    title = models.CharField(_("titre"), max_length=TITLE_MAX_LENGTH)
    # Plain text: shown with its line breaks, never as HTML.
    body = models.TextField(_("texte"))
    # Name of the image in storages["attachments"] ("<schema>/actualites/<random>.jpg"),
    # streamed by a view that checks the viewer; never a public URL.
    image = models.CharField(_("image"), max_length=255, blank=True)
    image_type = models.CharField(max_length=20, blank=True)
    image_alt = models.CharField(_("description de l'image"), max_length=200, blank=True)
    publish_at = models.DateTimeField(_("publication le"), null=True, blank=True)
    unpublish_at = models.DateTimeField(_("fin de publication le"), null=True, blank=True)
    pinned = models.BooleanField(_("épinglée"), default=False)
    # When the member families were e-mailed (once, whatever happens next).
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    updated_by = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NewsItemQuerySet.as_manager()

    class Meta:
        ordering = ["-pinned", "-publish_at", "-pk"]
        indexes = [
            models.Index(fields=["publish_at"], name="news_publish_at"),
            models.Index(
                fields=["publish_at"], condition=Q(emailed_at__isnull=True), name="news_not_emailed"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(unpublish_at__isnull=True)
                | Q(publish_at__isnull=False, unpublish_at__gt=F("publish_at")),
                name="news_unpublish_after_publish",
            ),
            models.CheckConstraint(
                condition=Q(image="", image_type="")
                | (~Q(image="") & Q(image_type__in=["image/jpeg", "image/png"])),
                name="news_image_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def state_at(self, now: dt.datetime) -> NewsItem.State:
        if self.publish_at is None:
            return self.State.DRAFT
        if self.publish_at > now:
            return self.State.SCHEDULED
        if self.unpublish_at is not None and self.unpublish_at <= now:
            return self.State.EXPIRED
        return self.State.PUBLISHED

    @property
    def state(self) -> NewsItem.State:
        return self.state_at(timezone.now())

    def allows(self, action: str, now: dt.datetime | None = None) -> bool:
        return action in self.ACTIONS[self.state_at(now or timezone.now())]

    def is_visible_at(self, now: dt.datetime) -> bool:
        return self.state_at(now) == self.State.PUBLISHED


class NewsRead(models.Model):
    """An account has read an item (the unread marker is per account, not per family)."""

    item = models.ForeignKey(NewsItem, on_delete=models.CASCADE, related_name="reads")
    account = identity_key(settings.AUTH_USER_MODEL)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "account"], name="news_read_once")]

    def __str__(self) -> str:
        return f"{self.account_id} a lu {self.item_id}"
