"""Reads on the shared identity. Fetch-by-id for a caller answers the same not-found for
"absent" and "not yours"."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import (
    Case,
    CharField,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from foyer.errors import FoyerError, NotFound

from .models import (
    Account,
    Child,
    DataExport,
    DeletionRequest,
    EmailChange,
    Family,
    Guardian,
    Invitation,
    Membership,
    PersonalApiToken,
    StaffRole,
    normalize_email,
)
from .tokens import hash_token

# The kinds of e-mail a guardian can turn off, and the account field that holds the choice.
# Messages without a kind (activation, a place released, a mass cancellation) always go out.
NOTIFICATION_FIELDS = {
    "invoice": "notify_invoices",
    "request": "notify_requests",
    "reminder": "remind_booking_deadlines",
    "news": "notify_news",
}


def family_recipients(family_ids: Iterable[int], *, kind: str | None = None) -> dict[int, list[str]]:
    """The e-mail addresses of each family's guardians who have an account and, for a
    message of `kind`, have not turned that kind off. One query."""
    accounts = Guardian.objects.filter(
        family_id__in=list(family_ids), account__isnull=False, account__is_active=True
    )
    if kind is not None:
        accounts = accounts.filter(**{f"account__{NOTIFICATION_FIELDS[kind]}": True})
    emails: dict[int, list[str]] = defaultdict(list)
    for family_id, email in accounts.values_list("family_id", "account__email"):
        emails[family_id].append(email)
    return emails


def get_staff_role(account: Account, commune) -> StaffRole | None:
    if not account.is_authenticated:
        return None
    return StaffRole.objects.filter(account=account, commune=commune).first()


def is_staff_of(account: Account, commune) -> bool:
    return get_staff_role(account, commune) is not None


def list_memberships_of(account: Account, *, statuses=(Membership.Status.ACTIVE,)) -> QuerySet[Membership]:
    """The communes an account reaches as a guardian, with each commune's branding."""
    return (
        Membership.objects.filter(family__guardians__account=account, status__in=statuses)
        .select_related("commune", "family")
        .distinct()
        .order_by("commune__name")
    )


def list_children_of(account: Account) -> QuerySet[Child]:
    return Child.objects.filter(family__guardians__account=account).distinct().order_by("birth_date")


def list_staff_communes(account: Account) -> QuerySet[StaffRole]:
    return StaffRole.objects.filter(account=account).select_related("commune").order_by("commune__name")


class ActivationStatus(TextChoices):
    """Where a dossier's activation stands, from its membership and its latest family link."""

    NEVER = "never", gettext_lazy("Jamais invitée")
    QUEUED = "queued", gettext_lazy("Envoi en cours")
    SENT = "sent", gettext_lazy("Lien envoyé")
    FAILED = "failed", gettext_lazy("Échec de l'envoi")
    EXPIRED = "expired", gettext_lazy("Lien expiré")
    ACTIVE = "active", gettext_lazy("Activée")


def with_activation_status(memberships: QuerySet[Membership], *, now=None) -> QuerySet[Membership]:
    """Annotate ``activation_status`` (an ActivationStatus value, filterable) and
    ``activation_sent_at`` (the latest link's last delivery), in the same query."""
    now = now or timezone.now()
    latest = Invitation.objects.filter(membership=OuterRef("pk"), kind=Invitation.Kind.FAMILY).order_by(
        "-expires_at", "-pk"
    )
    return memberships.annotate(
        activation_delivery=Subquery(latest.values("delivery")[:1]),
        activation_expires_at=Subquery(latest.values("expires_at")[:1]),
        activation_sent_at=Subquery(latest.values("sent_at")[:1]),
    ).annotate(
        activation_status=Case(
            When(~Q(status=Membership.Status.INVITED), then=Value(ActivationStatus.ACTIVE.value)),
            When(activation_delivery__isnull=True, then=Value(ActivationStatus.NEVER.value)),
            When(activation_delivery=Invitation.Delivery.FAILED, then=Value(ActivationStatus.FAILED.value)),
            When(activation_expires_at__lte=now, then=Value(ActivationStatus.EXPIRED.value)),
            When(activation_delivery=Invitation.Delivery.QUEUED, then=Value(ActivationStatus.QUEUED.value)),
            default=Value(ActivationStatus.SENT.value),
            output_field=CharField(),
        )
    )


def _phone_pattern(search: str) -> str | None:
    """A regex that finds a phone number however it was typed ("06 01 02 03 04",
    "06.01.02.03.04", "+33 6 01 02 03 04"), or None when ``search`` is not a number."""
    if not re.fullmatch(r"\+?[\d\s.\-/()]+", search):
        return None
    digits = re.sub(r"\D", "", search)
    if len(digits) < 4:
        return None
    if search.startswith("+33"):
        digits = "0" + digits[2:]
    gap = r"[^0-9]*"
    head, rest = (r"(0|\+33)", digits[1:]) if digits.startswith("0") else (digits[0], digits[1:])
    return head + "".join(gap + digit for digit in rest)


def list_family_dossiers(*, commune, search: str = "", activation: str = "") -> QuerySet[Membership]:
    """The commune's dossiers by family name, each with its activation status (see
    with_activation_status), optionally only those with ``activation``. The search looks in
    the family's name, dossier number, guardians' e-mails and phone numbers and children's
    names."""
    memberships = Membership.objects.filter(commune=commune).select_related("family")
    if search:
        match = (
            Q(family__name__icontains=search)
            | Q(dossier_number__icontains=search)
            | Q(family__guardians__email__icontains=search)
            | Q(family__children__first_name__icontains=search)
            | Q(family__children__last_name__icontains=search)
        )
        phone = _phone_pattern(search)
        if phone:
            match |= Q(family__guardians__phone__iregex=phone) | Q(family__home_phone__iregex=phone)
        memberships = memberships.filter(match).distinct()
    memberships = with_activation_status(memberships)
    if activation:
        memberships = memberships.filter(activation_status=activation)
    return memberships.order_by("family__name", "pk")


def get_family_dossier(*, commune, membership_id: int) -> Membership:
    membership = (
        Membership.objects.filter(commune=commune, pk=membership_id)
        .select_related("family", "commune")
        .prefetch_related(
            Prefetch("family__guardians", queryset=Guardian.objects.order_by("pk")),
            "family__children",
            Prefetch("invitations", queryset=Invitation.objects.order_by("-created_at")),
        )
        .first()
    )
    if membership is None:
        raise NotFound()
    return membership


def get_invitation_for_token(*, commune, token: str, kind: str, lock: bool = False) -> Invitation:
    """The invitation a link points to, or a clear refusal (unknown, used, expired)."""
    invitations = Invitation.objects.select_related("membership__family", "commune")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(commune=commune, kind=kind, token_hash=hash_token(token)).first()
    if invitation is None:
        raise FoyerError(
            "invalid_link",
            _(
                "Ce lien n'est pas valide. Il a peut-être été remplacé par un lien plus récent : "
                "utilisez le dernier e-mail reçu ou demandez un nouvel envoi à votre commune."
            ),
            status=404,
        )
    if invitation.used_at:
        raise FoyerError(
            "link_used",
            _("Ce lien a déjà été utilisé. Connectez-vous avec votre adresse e-mail et votre mot de passe."),
            status=410,
        )
    if invitation.is_expired():
        raise FoyerError(
            "link_expired",
            _("Ce lien a expiré. Demandez à votre commune de vous envoyer un nouveau lien."),
            status=410,
        )
    return invitation


def get_account_by_email(email: str) -> Account | None:
    return Account.objects.filter(email=normalize_email(email)).first()


def notification_preferences(account: Account) -> dict[str, bool]:
    """{"invoice": True, "request": True, "reminder": False, "news": True}"""
    return {kind: getattr(account, field) for kind, field in NOTIFICATION_FIELDS.items()}


# --- The family profile ------------------------------------------------------------------------


def list_families_of(account: Account) -> QuerySet[Family]:
    """The families an account is a guardian of (usually one; two for separated parents),
    with their guardians, children, memberships and open guardian invitation. Four queries."""
    return (
        Family.objects.filter(guardians__account=account)
        .distinct()
        .order_by("pk")
        .prefetch_related(
            Prefetch("guardians", queryset=Guardian.objects.select_related("account").order_by("pk")),
            "children",
            Prefetch(
                "memberships",
                queryset=Membership.objects.select_related("commune").order_by("commune__name"),
            ),
            Prefetch(
                "guardian_invitations",
                queryset=Invitation.objects.filter(used_at__isnull=True).order_by("-created_at"),
                to_attr="open_guardian_invitations",
            ),
        )
    )


def get_family_for_account(account: Account, family_id: int, *, lock: bool = False) -> Family:
    """One of the account's families; the same not-found for absent and not-yours."""
    families = Family.objects.filter(pk=family_id, guardians__account=account)
    if lock:
        families = Family.objects.select_for_update().filter(pk__in=families.values("pk"))
    family = families.first()
    if family is None:
        raise NotFound(_("Cette famille n'existe pas ou n'est pas la vôtre."))
    return family


def active_communes_of(family: Family) -> list:
    """The communes where the family's file is active (and the commune not suspended)."""
    return [
        m.commune
        for m in Membership.objects.filter(family=family, status=Membership.Status.ACTIVE)
        .select_related("commune")
        .order_by("commune__name")
        if m.commune.is_active
    ]


def get_guardian_invitation_for_token(*, token: str, lock: bool = False) -> Invitation:
    """The second-guardian invitation a link points to, or a clear refusal."""
    invitations = Invitation.objects.select_related("family")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(kind=Invitation.Kind.GUARDIAN, token_hash=hash_token(token)).first()
    if invitation is None:
        raise FoyerError(
            "invalid_link",
            _(
                "Ce lien n'est pas valide. Il a peut-être été remplacé par une invitation plus récente : "
                "utilisez le dernier e-mail reçu."
            ),
            status=404,
        )
    if invitation.used_at:
        raise FoyerError(
            "link_used",
            _(
                "Cette invitation a déjà été acceptée. Connectez-vous avec votre adresse e-mail et votre mot de passe."
            ),
            status=410,
        )
    if invitation.is_expired():
        raise FoyerError(
            "link_expired",
            _(
                "Cette invitation a expiré. Demandez à la personne qui vous a invité(e) de vous en envoyer une nouvelle."
            ),
            status=410,
        )
    return invitation


def get_email_change_for_token(*, token: str, lock: bool = False) -> EmailChange:
    changes = EmailChange.objects.select_related("account")
    if lock:
        changes = changes.select_for_update(of=("self",))
    change = changes.filter(token_hash=hash_token(token)).first()
    if change is None:
        raise FoyerError(
            "invalid_link",
            _("Ce lien n'est pas valide. Il a peut-être été remplacé par une demande plus récente."),
            status=404,
        )
    if change.used_at:
        raise FoyerError("link_used", _("Cette adresse e-mail a déjà été confirmée."), status=410)
    if change.is_expired():
        raise FoyerError(
            "link_expired",
            _("Ce lien a expiré. Demandez à nouveau le changement d'adresse depuis « Mon compte »."),
            status=410,
        )
    return change


def get_open_email_change(account: Account) -> EmailChange | None:
    return (
        EmailChange.objects.filter(account=account, used_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )


# --- Data rights (RGPD) -----------------------------------------------------------------------


def list_data_exports(account: Account) -> QuerySet[DataExport]:
    return DataExport.objects.filter(account=account).exclude(status=DataExport.Status.EXPIRED)[:5]


def get_data_export_for_account(account: Account, export_id: int) -> DataExport:
    """A ready, unexpired archive of this account; absent, not-yours and expired look alike."""
    export = DataExport.objects.filter(
        pk=export_id, account=account, status=DataExport.Status.READY, expires_at__gt=timezone.now()
    ).first()
    if export is None:
        raise NotFound(_("Cette archive n'existe pas ou n'est plus disponible."))
    return export


def get_pending_deletion(account: Account) -> DeletionRequest | None:
    return DeletionRequest.objects.filter(account=account, status=DeletionRequest.Status.PENDING).first()


def list_personal_api_tokens(account: Account) -> QuerySet[PersonalApiToken]:
    """The account's keys, live ones first."""
    return PersonalApiToken.objects.filter(account=account).order_by(
        F("revoked_at").desc(nulls_first=True), "-created_at"
    )


def find_personal_api_token(raw: str) -> PersonalApiToken | None:
    """The live key whose hash this is, of an active account; None otherwise."""
    if not raw.startswith(PersonalApiToken.PREFIX) or len(raw) > 100:
        return None
    return (
        PersonalApiToken.objects.select_related("account")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, account__is_active=True)
        .first()
    )
