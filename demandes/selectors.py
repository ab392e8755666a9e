"""Reads on requests (demandes). For families: one request or document of the current
commune, checked against the family (every request and category of all their communes is read
by the family router: family.router, with demandes.family_parts). For agents: the
commune's queue, one request with its whole history, a document."""

from __future__ import annotations

from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Account, Child, Family, Membership, StaffRole
from tenants.models import Commune

from .models import AttachmentType, Request, RequestAttachment, RequestCategory, RequestEvent

# --- One commune, for a family ------------------------------------------------------------------


def get_commune_families(*, account: Account, commune: Commune) -> list[Family]:
    """The account's families with an active file in this commune (usually one), or not found."""
    families = list(
        Family.objects.filter(
            guardians__account=account,
            memberships__commune=commune,
            memberships__status=Membership.Status.ACTIVE,
        )
        .distinct()
        .order_by("name", "pk")
    )
    if not families:
        raise NotFound()
    return families


def list_children_of_families(families: list[Family]) -> list[Child]:
    return list(Child.objects.filter(family__in=families).order_by("birth_date", "first_name"))


def list_offered_categories() -> QuerySet[RequestCategory]:
    """What "Faire une demande" offers in the current commune."""
    return RequestCategory.objects.filter(is_active=True, is_system=False)


def get_offered_category(*, code: str) -> RequestCategory:
    category = list_offered_categories().filter(code=code).first()
    if category is None:
        raise NotFound(_("Cette catégorie de demande n'existe pas ou n'est plus proposée."))
    return category


def get_family_request(*, family_ids: list[int], request_id: int) -> Request:
    """One request of the family in the current commune, with what the family sees of its
    history and documents."""
    request = (
        Request.objects.filter(pk=request_id, family_id__in=family_ids)
        .select_related("category", "child")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=RequestEvent.objects.filter(kind__in=RequestEvent.FAMILY_KINDS)
                .select_related("actor")
                .prefetch_related("attachments"),
            ),
        )
        .first()
    )
    if request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    return request


def _in_this_commune(attachment: RequestAttachment | None) -> RequestAttachment:
    if attachment is None or not attachment.file.name.startswith(f"{connection.schema_name}/"):
        raise NotFound(_("Ce document n'existe pas."))
    return attachment


def get_family_attachment(*, family_ids: list[int], attachment_id: int) -> RequestAttachment:
    """A document of one of the family's requests, stored under this commune's folder."""
    return _in_this_commune(
        RequestAttachment.objects.filter(pk=attachment_id, request__family_id__in=family_ids).first()
    )


# --- The commune's staff --------------------------------------------------------------------------


def list_requests(
    *,
    status: str = "",
    category_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    search: str = "",
) -> QuerySet[Request]:
    """The commune's queue: open requests first (oldest waiting first), then the others."""
    requests = Request.objects.select_related("category", "family", "child", "assignee")
    if status:
        requests = requests.filter(status=status)
    if category_id:
        requests = requests.filter(category_id=category_id)
    if unassigned:
        requests = requests.filter(assignee__isnull=True)
    elif assignee_id:
        requests = requests.filter(assignee_id=assignee_id)
    search = search.strip()
    if search:
        match = (
            Q(family__name__icontains=search)
            | Q(title__icontains=search)
            | Q(child__first_name__icontains=search)
            | Q(child__last_name__icontains=search)
            | Exists(
                Membership.objects.filter(
                    family_id=OuterRef("family_id"), commune=connection.tenant, dossier_number__iexact=search
                )
            )
        )
        number = search.lstrip("n°# ").strip()
        if number.isdecimal():
            match |= Q(pk=int(number))
        requests = requests.filter(match)
    return requests.annotate(
        closed=Case(
            When(status__in=Request.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
    ).order_by("closed", "updated_at", "pk")


def get_request(*, request_id: int) -> Request:
    """One request of the commune with its whole history (who, when) and documents."""
    request = (
        Request.objects.filter(pk=request_id)
        .select_related("category", "family", "child", "assignee", "created_by")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=RequestEvent.objects.select_related("actor", "assignee").prefetch_related(
                    "attachments"
                ),
            ),
        )
        .first()
    )
    if request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    return request


def get_dossier(request: Request) -> Membership | None:
    return Membership.objects.filter(family_id=request.family_id, commune=connection.tenant).first()


def get_staff_attachment(*, attachment_id: int) -> RequestAttachment:
    return _in_this_commune(RequestAttachment.objects.filter(pk=attachment_id).first())


def list_staff() -> list[Account]:
    """Who a request can be given to: the commune's staff."""
    return [
        role.account
        for role in StaffRole.objects.filter(commune=connection.tenant)
        .select_related("account")
        .order_by("account__last_name", "account__first_name", "account__email")
    ]


def list_categories() -> QuerySet[RequestCategory]:
    return RequestCategory.objects.all()


def get_category(*, category_id: int) -> RequestCategory:
    category = RequestCategory.objects.filter(pk=category_id).first()
    if category is None:
        raise NotFound()
    return category


def attachment_type_choices(category: RequestCategory) -> list[tuple[str, str]]:
    """The document types a reply may carry: the category's, then "Autre document"."""
    codes = [c for c in category.attachment_types if c in AttachmentType.values] + [AttachmentType.AUTRE]
    return [(code, AttachmentType(code).label) for code in codes]
