"""Communes (the tenants) and their domains. Public schema."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

SLUG_RE = r"^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$"
RESERVED_SLUGS = frozenset({"public", "template", "admin", "api", "static", "media", "www", "console"})

slug_validator = RegexValidator(
    SLUG_RE,
    _(
        "L'identifiant ne peut contenir que des lettres minuscules sans accent, des chiffres et des tirets "
        "(2 à 50 caractères, sans tiret au début ni à la fin)."
    ),
    code="invalid_slug",
)
insee_validator = RegexValidator(
    r"^(\d{5}|2[AB]\d{3})$",
    _("Le code INSEE comporte 5 caractères (par exemple 75056 ou 2A004)."),
    "invalid_insee",
)
colour_validator = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", _("La couleur s'écrit #RRGGBB (par exemple #1d4ed8)."), "invalid_colour"
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("Fuseau horaire inconnu : %(value)s."), code="invalid_timezone", params={"value": value}
        )


def schema_name_for_slug(slug: str) -> str:
    return "c_" + slug.replace("-", "_")


def commune_logo_path(instance: Commune, filename: str) -> str:
    # Files are prefixed by the commune's schema (DESIGN §5).
    return f"{instance.schema_name}/branding/{filename}"


class Commune(TenantMixin):
    class Kind(models.TextChoices):
        COMMUNE = "commune", _("Commune")
        INTERCOMMUNALITE = "intercommunalite", _("Intercommunalité")
        SYNDICAT = "syndicat", _("Syndicat")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspendue")

    name = models.CharField(_("nom"), max_length=120)
    # How a sentence names the commune ("la commune de JolieVille"); empty: derived from the name.
    sentence_name = models.CharField(_("nom dans une phrase"), max_length=150, blank=True)
    slug = models.CharField(
        _("identifiant"),
        max_length=50,
        unique=True,
        validators=[slug_validator],
        error_messages={"unique": _("Cet identifiant est déjà pris par une autre commune.")},
    )
    insee_code = models.CharField(_("code INSEE"), max_length=5, blank=True, validators=[insee_validator])
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.COMMUNE)
    timezone = models.CharField(
        _("fuseau horaire"), max_length=64, default="Europe/Paris", validators=[validate_timezone]
    )
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.ACTIVE)
    suspension_reason = models.TextField(_("motif de suspension"), blank=True)
    logo = models.FileField(_("logo"), upload_to=commune_logo_path, blank=True)
    brand_colour = models.CharField(
        _("couleur"), max_length=7, default="#1d4ed8", validators=[colour_validator]
    )
    contact_email = models.EmailField(_("e-mail de contact"), blank=True)
    legal_mentions = models.TextField(
        _("mentions légales"),
        blank=True,
        help_text=_("Responsable de la publication, hébergeur, délégué à la protection des données…"),
    )
    # Set by "Ouvrir aux familles" at the end of onboarding; until then only staff get in.
    opened_at = models.DateTimeField(_("ouverte aux familles le"), null=True, blank=True)
    require_staff_2fa = models.BooleanField(
        _("exiger la double authentification pour toute l'équipe"), default=False
    )
    booking_hold_minutes = models.PositiveSmallIntegerField(
        _("durée de blocage d'un panier à payer (minutes)"),
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    # Changes with every write to the commune's catalogue tables (services, sites, prestations,
    # their sites, closures, school holidays), in the writing transaction: a database trigger on
    # those tables (reservations migration 0007) sets it from a sequence, so a number is never
    # given twice, not even after a rollback. The family router's catalogue cache is keyed by it.
    catalogue_version = models.BigIntegerField(_("version du catalogue"), default=0, editable=False)

    # Schemas are created by operators.services.provision_commune (a clone of the template),
    # never implicitly on save; they are never dropped by a delete.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]
        verbose_name = _("commune")
        verbose_name_plural = _("communes")
        constraints = [
            models.UniqueConstraint(
                fields=["insee_code"], condition=~models.Q(insee_code=""), name="commune_insee_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "suspended"]), name="commune_status_valid"
            ),
        ]

    @property
    def in_sentence(self) -> str:
        """The commune as a sentence names it, with its article: "la commune de JolieVille" (the
        commune's own wording when it set one). Capitalise it at the start of a sentence."""
        return self.sentence_name or sentence_name_for(self.name, self.kind)

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_open(self) -> bool:
        """Open to families (onboarding finished)."""
        return self.opened_at is not None

    @property
    def path_prefix(self) -> str:
        return f"/{settings.FOYER_COMMUNE_PREFIX}/{self.slug}/"

    def get_absolute_url(self) -> str:
        return self.path_prefix

    @property
    def absolute_url(self) -> str:
        return settings.FOYER_BASE_URL + self.path_prefix


class Domain(DomainMixin):
    """A custom host name of a commune (e.g. famille.jolieville.fr).

    Communes are served at /c/<slug>/ on the platform's domain, where the family session
    lives; a request on a custom domain is redirected there.
    """

    class Meta:
        verbose_name = _("domaine")
        verbose_name_plural = _("domaines")

    def __str__(self) -> str:
        return self.domain


_ARTICLES = (
    ("commune ", "la "),
    ("ville ", "la "),
    ("collectivité ", "la "),
    ("communauté ", "la "),
    ("métropole ", "la "),
    ("mairie ", "la "),
    ("syndicat ", "le "),
    ("sivu ", "le "),
    ("sivom ", "le "),
    ("centre ", "le "),
)


def sentence_name_for(name: str, kind: str) -> str:
    """ "Commune de JolieVille" → "la commune de JolieVille"; "Syndicat des écoles" → "le
    syndicat des écoles"; a bare name → "la commune de Lyon", "la commune d'Annecy"."""
    name = " ".join(name.split())
    lowered = name.casefold()
    for start, article in _ARTICLES:
        if lowered.startswith(start):
            return article + name[0].lower() + name[1:]
    if lowered.startswith(("la ", "le ", "les ", "l'", "l’")):
        return name[0].lower() + name[1:]
    of = "d'" if lowered[:1] in "aeiouyhâàéèêîôû" else "de "
    if kind == Commune.Kind.COMMUNE:
        return f"la commune {of}{name}"
    return f"la collectivité {name}"


class OutboxMessage(models.Model):
    """A task (an e-mail is a task too) that must run, written in the same transaction as the
    change that causes it, then handed to Celery by the relay (``tenants.outbox``). Public
    schema: one relay serves every commune; a commune's task carries its ``schema_name``.

    A pending message is claimed by one relay at a time (``SELECT … FOR UPDATE SKIP LOCKED``,
    then ``available_at`` moved past the lease); once Celery has it, it is marked sent and its
    payload is dropped (it may hold a one-time link)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        SENT = "sent", _("Transmis")

    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    schema_name = models.CharField(max_length=63, blank=True)
    # What it is about, kept once sent (e.g. "data_export:42"): lets a caller ask whether
    # work for it was queued lately (outbox.queued_since).
    topic = models.CharField(max_length=100, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When a relay may take it (again): now when written, later after a failure or a claim.
    available_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                condition=models.Q(status="pending"),
                name="outbox_pending_idx",
            ),
            models.Index(fields=["sent_at"], condition=models.Q(status="sent"), name="outbox_sent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="pending", sent_at__isnull=True)
                | models.Q(status="sent", sent_at__isnull=False),
                name="outbox_sent_has_a_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} ({self.schema_name or 'public'}, {self.status})"
