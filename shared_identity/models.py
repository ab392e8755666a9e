"""The single identity shared by all communes (public schema): accounts, families,
guardians, children, memberships (family ↔ commune), staff roles and invitations."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccountManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> Account:
        if not email:
            raise ValueError("An account needs an e-mail address.")
        account = self.model(email=normalize_email(email), **fields)
        account.set_password(password)
        account.save(using=self._db)
        return account

    def create_user(self, email: str, password: str | None = None, **fields) -> Account:
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> Account:
        fields.update(is_superuser=True, is_platform_operator=True)
        return self._create(email, password, **fields)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class Account(AbstractBaseUser, PermissionsMixin):
    """One login for a person, whatever the communes and families they belong to."""

    email = models.EmailField(_("adresse e-mail"), unique=True)
    first_name = models.CharField(_("prénom"), max_length=100, blank=True)
    last_name = models.CharField(_("nom"), max_length=100, blank=True)
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("actif"), default=True)
    is_platform_operator = models.BooleanField(_("opérateur de la plateforme"), default=False)
    # E-mail preferences, one per kind of message (see selectors.NOTIFICATION_FIELDS).
    remind_booking_deadlines = models.BooleanField(
        _("me rappeler la veille de la fin des réservations"), default=False
    )
    notify_invoices = models.BooleanField(_("m'écrire quand une facture est émise"), default=True)
    notify_requests = models.BooleanField(_("m'écrire quand une de mes demandes avance"), default=True)
    notify_news = models.BooleanField(_("m'écrire quand ma commune publie une actualité"), default=True)
    date_joined = models.DateTimeField(_("inscrit le"), default=timezone.now)

    objects = AccountManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("compte")
        verbose_name_plural = _("comptes")
        constraints = [models.UniqueConstraint(Lower("email"), name="account_email_ci_unique")]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def is_staff(self) -> bool:
        # Django's admin is not used; staff roles are per commune (StaffRole).
        return False


class Family(models.Model):
    name = models.CharField(_("nom de la famille"), max_length=150)
    address_line = models.CharField(_("adresse"), max_length=255, blank=True)
    postcode = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("ville"), max_length=120, blank=True)
    home_phone = models.CharField(_("téléphone du domicile"), max_length=30, blank=True)
    # The private address of the family's calendar feed; replaced to revoke it.
    ical_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("famille")
        verbose_name_plural = _("familles")

    def __str__(self) -> str:
        return self.name


class Guardian(models.Model):
    """A legal guardian (responsable légal) of a family, with their own login once activated.

    One person may be a guardian in two families (separated parents)."""

    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="guardians")
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="guardianships",
    )
    first_name = models.CharField(_("prénom"), max_length=100)
    last_name = models.CharField(_("nom"), max_length=100)
    email = models.EmailField(_("adresse e-mail"))
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("responsable légal")
        verbose_name_plural = _("responsables légaux")
        constraints = [
            models.UniqueConstraint(fields=["family", "email"], name="guardian_email_unique_in_family"),
            models.UniqueConstraint(
                fields=["family", "account"],
                condition=models.Q(account__isnull=False),
                name="guardian_account_unique_in_family",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Child(models.Model):
    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="children")
    first_name = models.CharField(_("prénom"), max_length=100)
    last_name = models.CharField(_("nom"), max_length=100)
    birth_date = models.DateField(_("date de naissance"))

    class Meta:
        verbose_name = _("enfant")
        verbose_name_plural = _("enfants")
        ordering = ["birth_date", "first_name"]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Membership(models.Model):
    """A family's file (dossier) in one commune."""

    class Status(models.TextChoices):
        INVITED = "invited", _("Invitée")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspendue")

    family = models.ForeignKey(Family, on_delete=models.PROTECT, related_name="memberships")
    commune = models.ForeignKey("tenants.Commune", on_delete=models.PROTECT, related_name="memberships")
    dossier_number = models.CharField(_("numéro de dossier"), max_length=30)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.INVITED)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("adhésion")
        verbose_name_plural = _("adhésions")
        constraints = [
            models.UniqueConstraint(fields=["family", "commune"], name="membership_family_commune_unique"),
            models.UniqueConstraint(fields=["commune", "dossier_number"], name="membership_dossier_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.family} @ {self.commune}"


class StaffRole(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrateur de la commune")
        AGENT = "agent", _("Agent")

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles"
    )
    commune = models.ForeignKey("tenants.Commune", on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(_("rôle"), max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("rôle")
        verbose_name_plural = _("rôles")
        constraints = [models.UniqueConstraint(fields=["account", "commune"], name="staff_role_unique")]

    def __str__(self) -> str:
        return f"{self.account} — {self.get_role_display()} @ {self.commune}"


class Invitation(models.Model):
    """A one-time link sent by e-mail: a family activation or a staff invitation.

    Only a hash of the token is stored; the link itself exists only in the e-mail."""

    class Kind(models.TextChoices):
        FAMILY = "family", _("Activation famille")
        STAFF = "staff", _("Invitation d'un agent")
        # A guardian invites the family's second guardian (no commune: the family is shared).
        GUARDIAN = "guardian", _("Invitation d'un second responsable")

    class Delivery(models.TextChoices):
        QUEUED = "queued", _("En cours d'envoi")
        SENT = "sent", _("Envoyé")
        FAILED = "failed", _("Échec de l'envoi")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    commune = models.ForeignKey(
        "tenants.Commune", on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    family = models.ForeignKey(
        Family, on_delete=models.CASCADE, null=True, blank=True, related_name="guardian_invitations"
    )
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    role = models.CharField(max_length=10, choices=StaffRole.Role.choices, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.QUEUED)
    send_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    # The family asked for a new link from the expired one (the agents resend it).
    renewal_requested_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="family", membership__isnull=False, commune__isnull=False)
                    | models.Q(kind="staff", role__in=["admin", "agent"], commune__isnull=False)
                    | models.Q(kind="guardian", family__isnull=False, commune__isnull=True)
                ),
                name="invitation_kind_consistent",
            ),
            models.UniqueConstraint(
                fields=["family"],
                condition=models.Q(kind="guardian", used_at__isnull=True),
                name="one_open_guardian_invitation_per_family",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.email}"

    @staticmethod
    def lifetime(kind: str) -> timedelta:
        hours = (
            settings.FOYER_STAFF_INVITATION_HOURS if kind == "staff" else settings.FOYER_ACTIVATION_LINK_HOURS
        )
        return timedelta(hours=hours)

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    @property
    def status_label(self) -> str:
        if self.used_at:
            return _("Utilisé")
        if self.is_expired():
            return _("Expiré")
        return self.get_delivery_display()


# --- Login e-mail change, data rights (RGPD) ---------------------------------------------------

EMAIL_CHANGE_LIFETIME = timedelta(hours=24)
DATA_EXPORT_LIFETIME = timedelta(days=7)


class EmailChange(models.Model):
    """A guardian asked to sign in with another e-mail address: the change happens only when
    the one-time link sent to the new address is opened. Only a hash of the token is kept."""

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    new_email = models.EmailField(_("nouvelle adresse e-mail"))
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(used_at__isnull=True), name="one_open_email_change"
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="email_change_expires_later"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} → {self.new_email}"

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class DataExport(models.Model):
    """ "Télécharger mes données": an archive of everything about the account's families in all
    their communes, built by a task, downloadable by that account only until it expires."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En préparation")
        READY = "ready", _("Prête")
        FAILED = "failed", _("Échec")
        EXPIRED = "expired", _("Expirée")

    TRANSITIONS = {
        Status.PENDING: {Status.READY, Status.FAILED},
        Status.READY: {Status.EXPIRED},
        Status.FAILED: set(),
        Status.EXPIRED: set(),
    }

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The archive's name in storages["attachments"] (exports/<random>.zip): not a tenant path.
    file_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status="pending"),
                name="one_pending_export_per_account",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ready")
                | models.Q(file_name__gt="", ready_at__isnull=False, expires_at__isnull=False),
                name="ready_export_has_a_file",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"


class DeletionRequest(models.Model):
    """ "Supprimer mon compte": done at once when no invoice of the account's families is open in
    any commune, else by the daily task once they are paid. Kept as the record of the erasure."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente du paiement des factures")
        COMPLETED = "completed", _("Effectuée")
        CANCELLED = "cancelled", _("Annulée")

    TRANSITIONS = {
        Status.PENDING: {Status.COMPLETED, Status.CANCELLED},
        Status.COMPLETED: set(),
        Status.CANCELLED: set(),
    }

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status="pending"),
                name="one_pending_deletion_per_account",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="completed") | models.Q(completed_at__isnull=False),
                name="completed_deletion_is_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"suppression {self.account_id} ({self.status})"


class JoinRequest(models.Model):
    """A family asks a commune that uses Foyer to open (or link) its file: "adhérer à d'autres
    collectivités" on the parent's initiative. The commune's agents accept it (linking an
    existing dossier or creating one) or refuse it with a reason."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        ACCEPTED = "accepted", _("Acceptée")
        REFUSED = "refused", _("Refusée")
        CANCELLED = "cancelled", _("Annulée")

    # The transitions a request may take; anything else is refused.
    TRANSITIONS = {Status.PENDING: {Status.ACCEPTED, Status.REFUSED, Status.CANCELLED}}

    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="join_requests")
    commune = models.ForeignKey("tenants.Commune", on_delete=models.CASCADE, related_name="join_requests")
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    children = models.ManyToManyField(Child, related_name="+", blank=True)
    dossier_number = models.CharField(_("numéro de dossier"), max_length=30, blank=True)
    message = models.TextField(_("message"), blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(_("motif du refus"), blank=True)
    membership = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["family", "commune"], condition=Q(status="pending"), name="one_pending_join_request"
            ),
        ]

    def __str__(self) -> str:
        return f"adhésion {self.pk} ({self.status})"


class PersonalApiToken(models.Model):
    """A key with which other software uses the family API in the account's name
    (``Authorization: Bearer foyer_pt_…``). Only its hash is stored; the key is shown once.
    Revoked, it opens nothing; an inactive account's keys open nothing either."""

    PREFIX = "foyer_pt_"
    MAX_LIVE = 10

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("nom"), max_length=120)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
