"""Reads on the shared identity. Fetch-by-id for a caller answers the same not-found for
"absent" and "not yours"."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound

from .models import Account, Child, Guardian, Invitation, Membership, StaffRole, normalize_email
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


def list_family_dossiers(*, commune, search: str = "") -> QuerySet[Membership]:
    memberships = Membership.objects.filter(commune=commune).select_related("family")
    if search:
        memberships = memberships.filter(
            Q(family__name__icontains=search)
            | Q(dossier_number__icontains=search)
            | Q(family__guardians__email__icontains=search)
        ).distinct()
    return memberships.prefetch_related(
        Prefetch("invitations", queryset=Invitation.objects.order_by("-created_at"))
    ).order_by("family__name")


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
