"""A commune's requests (demandes): categories, the families' requests, their history and
attachments. Tenant tables: they live in each commune's schema."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from foyer.uploads import ALL_TYPES, EXTENSIONS, TYPE_LABELS, private_storage
from tenants.references import identity_key


class AttachmentType(models.TextChoices):
    """The kinds of document a category may ask for. "autre" is any other document (added with
    a request or later, by the family or an agent)."""

    PIECE_IDENTITE = "piece_identite", _("Pièce d'identité")
    JUSTIFICATIF_DOMICILE = "justificatif_domicile", _("Justificatif de domicile")
    CERTIFICAT_MEDICAL = "certificat_medical", _("Certificat médical")
    LIVRET_FAMILLE = "livret_famille", _("Livret de famille")
    JUGEMENT = "jugement", _("Jugement (garde, autorité parentale)")
    ATTESTATION_EMPLOYEUR = "attestation_employeur", _("Attestation de l'employeur")
    AVIS_IMPOSITION = "avis_imposition", _("Avis d'imposition ou attestation CAF")
    AUTRE = "autre", _("Autre document")


class FieldKind(models.TextChoices):
    """What a category's form asks (RequestCategory.fields)."""

    TEXT = "text", _("Texte court")
    TEXTAREA = "textarea", _("Texte long")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choix dans une liste")
    CHILD = "child", _("Choix d'un enfant de la famille")


FILE_TYPE_CHOICES = [(t, TYPE_LABELS[t]) for t in ALL_TYPES]
code_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", _("Minuscules, chiffres et tirets seulement."), "invalid_code"
)


def _default_file_types() -> list[str]:
    return list(ALL_TYPES)


class RequestCategory(models.Model):
    """A thématique families choose ("Autorisation de récupération d'un enfant"): its form,
    the documents it requires and the files it accepts.

    ``fields`` is a list of {"key", "label", "kind", "required", "choices", "help"}
    (demandes.services.save_category checks it). A system category (``is_system``) is filed
    from another page of Foyer (the profile's change of address): its code, form and
    required documents are fixed, and it is not offered in "Faire une demande"."""

    code = models.SlugField(_("code"), max_length=60, validators=[code_validator])
    title = models.CharField(_("titre"), max_length=150)
    description = models.TextField(_("description"), blank=True)
    fields = models.JSONField(_("champs du formulaire"), default=list, blank=True)
    attachment_types = models.JSONField(_("pièces jointes obligatoires"), default=list, blank=True)
    file_types = models.JSONField(_("types de fichiers acceptés"), default=_default_file_types)
    max_file_mb = models.PositiveSmallIntegerField(
        _("taille maximale d'un fichier (Mo)"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    max_files = models.PositiveSmallIntegerField(
        _("nombre maximal de fichiers par envoi"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_system = models.BooleanField(_("catégorie de Foyer"), default=False, editable=False)
    position = models.PositiveSmallIntegerField(_("ordre"), default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "title"]
        verbose_name = _("catégorie de demande")
        verbose_name_plural = _("catégories de demande")
        constraints = [
            models.UniqueConstraint(fields=["code"], name="request_category_code_unique"),
            models.CheckConstraint(
                condition=Q(max_file_mb__gte=1, max_file_mb__lte=10), name="request_category_file_size_range"
            ),
            models.CheckConstraint(
                condition=Q(max_files__gte=1, max_files__lte=10), name="request_category_file_count_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def attachment_labels(self) -> list[str]:
        return [AttachmentType(code).label for code in self.attachment_types if code in AttachmentType.values]

    @property
    def file_type_labels(self) -> str:
        from foyer.uploads import describe_types

        return describe_types(self.file_types)

    @property
    def child_field(self) -> dict | None:
        return next((f for f in self.fields if f.get("kind") == FieldKind.CHILD), None)


class Request(models.Model):
    """A family's request to its commune, from "déposée" to a decision."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Déposée")
        IN_PROGRESS = "in_progress", _("En cours")
        ACCEPTED = "accepted", _("Acceptée")
        REJECTED = "rejected", _("Refusée")
        CANCELLED = "cancelled", _("Annulée")

    # A request is open (the family may reply, add a document or cancel it) in these states.
    OPEN = (Status.SUBMITTED, Status.IN_PROGRESS)
    DECIDED = (Status.ACCEPTED, Status.REJECTED)
    # The only transitions services may apply (demandes.services._transition).
    TRANSITIONS = {
        Status.SUBMITTED: {Status.IN_PROGRESS, Status.ACCEPTED, Status.REJECTED, Status.CANCELLED},
        Status.IN_PROGRESS: {Status.ACCEPTED, Status.REJECTED, Status.CANCELLED},
        Status.ACCEPTED: set(),
        Status.REJECTED: set(),
        Status.CANCELLED: set(),
    }

    category = models.ForeignKey(RequestCategory, on_delete=models.PROTECT, related_name="requests")
    family = identity_key("shared_identity.Family")
    child = identity_key("shared_identity.Child", null=True, blank=True)
    created_by = identity_key(settings.AUTH_USER_MODEL)
    # The category's title when filed, and the answers with their labels: what the family
    # sent stays readable if the category changes later.
    title = models.CharField(_("objet"), max_length=150)
    answers = models.JSONField(_("réponses"), default=list, blank=True)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.SUBMITTED)
    assignee = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True)
    created_at = models.DateTimeField(_("déposée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("dernière activité"))
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        verbose_name = _("demande")
        verbose_name_plural = _("demandes")
        indexes = [
            models.Index(fields=["family", "-updated_at"], name="request_family_recent"),
            models.Index(fields=["status", "-updated_at"], name="request_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "in_progress", "accepted", "rejected", "cancelled"]),
                name="request_status_known",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status__in=["submitted", "in_progress"], closed_at__isnull=True)
                    | Q(status__in=["accepted", "rejected", "cancelled"], closed_at__isnull=False)
                ),
                name="request_closed_when_final",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} n° {self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class RequestEvent(models.Model):
    """The history of a request: who did what, when. Append-only."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Demande déposée")
        STATUS = "status", _("Changement de statut")
        MESSAGE = "message", _("Message de la commune")
        REPLY = "reply", _("Réponse de la famille")
        ASSIGNED = "assigned", _("Attribution")
        NOTE = "note", _("Note interne")

    class Side(models.TextChoices):
        FAMILY = "family", _("Famille")
        COMMUNE = "commune", _("Commune")

    # What the family sees of the history (assignments and internal notes are the commune's).
    FAMILY_KINDS = (Kind.CREATED, Kind.STATUS, Kind.MESSAGE, Kind.REPLY)

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    side = models.CharField(max_length=8, choices=Side.choices)
    actor = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    from_status = models.CharField(max_length=12, choices=Request.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Request.Status.choices, blank=True)
    message = models.TextField(_("message"), blank=True)
    assignee = identity_key(settings.AUTH_USER_MODEL, null=True, blank=True, db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="status") & ~Q(from_status="") & ~Q(to_status="")
                    | ~Q(kind="status") & Q(from_status="", to_status="")
                ),
                name="request_event_status_pair",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["message", "note"]) | ~Q(message=""),
                name="request_event_message_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def visible_to_family(self) -> bool:
        return self.kind in self.FAMILY_KINDS


def attachment_upload_to(instance: RequestAttachment, filename: str) -> str:
    """<schema>/demandes/<request id>/<random><extension of the sniffed type>."""
    schema = connection.schema_name
    if not schema or schema == "public":
        raise RuntimeError("Request attachments are stored in a commune's folder.")
    suffix = EXTENSIONS.get(instance.content_type, "")
    return f"{schema}/demandes/{instance.request_id}/{uuid.uuid4().hex}{suffix}"


class RequestAttachment(models.Model):
    """A document of a request, in the private storage; streamed by views that check the
    viewer (the owning family, the commune's staff)."""

    request = models.ForeignKey(Request, on_delete=models.PROTECT, related_name="attachments")
    event = models.ForeignKey(
        RequestEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_upload_to, storage=private_storage, max_length=255)
    original_name = models.CharField(_("nom du fichier"), max_length=255)
    content_type = models.CharField(max_length=40, choices=FILE_TYPE_CHOICES)
    size = models.PositiveIntegerField()
    type_code = models.CharField(_("type de pièce"), max_length=40, choices=AttachmentType.choices)
    side = models.CharField(max_length=8, choices=RequestEvent.Side.choices)
    uploaded_by = identity_key(settings.AUTH_USER_MODEL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="request_attachment_not_empty"),
            models.CheckConstraint(
                condition=Q(content_type__in=list(ALL_TYPES)), name="request_attachment_type_known"
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def type_label(self) -> str:
        return AttachmentType(self.type_code).label if self.type_code in AttachmentType.values else ""

    @property
    def download_name(self) -> str:
        """The family's file name, with the extension of what the file really is."""
        from pathlib import PurePath

        stem = PurePath(self.original_name).stem or "document"
        return f"{stem}{EXTENSIONS.get(self.content_type, '')}"
