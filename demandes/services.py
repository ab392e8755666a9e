"""Writes on requests (demandes): a commune's categories, a family filing, replying to and
cancelling a request, agents assigning, answering and deciding. Each command is one
transaction that also writes the history row; e-mails to the family go after commit.

Every function runs in the current commune's schema (the caller selects it)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from foyer import rate_limits
from foyer.errors import FoyerError, NotFound
from foyer.uploads import ALL_TYPES, private_storage, validate_attachment
from shared_identity.models import Account, Child, Family, Guardian, Membership, StaffRole
from tenants.tasks import enqueue_on_commit

from .models import AttachmentType, FieldKind, Request, RequestAttachment, RequestCategory, RequestEvent

# A request holds at most this many documents over its whole life (each sending is also
# limited by its category's max_files).
MAX_ATTACHMENTS_PER_REQUEST = 30
MAX_MESSAGE_LENGTH = 5000
TEXT_LIMITS = {FieldKind.TEXT: 200, FieldKind.TEXTAREA: 4000}
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Keys a category's field may not take: the request form's other inputs.
RESERVED_KEYS = frozenset({"child", "category", "commune", "message", "answers", "attachments", "type_code"})
RESERVED_KEYS |= frozenset(AttachmentType.values)


def _commune():
    commune = connection.tenant
    if commune is None or commune.schema_name == "public":
        raise RuntimeError("Request services run in a commune's schema.")
    return commune


def _invalid(message: str, errors: dict[str, list[str]]) -> FoyerError:
    return FoyerError("invalid", message, extra={"fields": errors})


# --- Categories (commune administrators) -----------------------------------------------------------


@dataclass(frozen=True)
class FieldInput:
    label: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""
    key: str = ""


@dataclass(frozen=True)
class CategoryInput:
    title: str
    description: str = ""
    code: str = ""
    is_active: bool = True
    attachment_types: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ALL_TYPES
    max_file_mb: int = 5
    max_files: int = 5
    position: int = 100
    fields: tuple[FieldInput, ...] = field(default_factory=tuple)


def save_category(*, category_id: int | None, data: CategoryInput, actor: Account) -> RequestCategory:
    """Create or change a category. A system category keeps its code, form and documents."""
    _require_staff(actor, admin=True)
    with transaction.atomic(durable=True):
        category = RequestCategory() if category_id is None else _locked_category(category_id)
        errors: dict[str, list[str]] = {}
        title = data.title.strip()
        if not title:
            errors["title"] = [_("Indiquez le titre de la catégorie.")]
        elif len(title) > 150:
            errors["title"] = [_("150 caractères au plus.")]
        if not category.is_system:
            code = (data.code.strip().lower() or slugify(title))[:60]
            if code and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", code):
                errors["code"] = [_("Minuscules, chiffres et tirets seulement.")]
            elif code and RequestCategory.objects.filter(code=code).exclude(pk=category.pk).exists():
                errors["code"] = [_("Ce code est déjà celui d'une autre catégorie.")]
            elif not code:
                errors.setdefault("code", []).append(_("Indiquez un code."))
            unknown = [t for t in data.attachment_types if t not in AttachmentType.values or t == "autre"]
            if unknown:
                errors["attachment_types"] = [_("Type de pièce inconnu.")]
            fields = _clean_fields(data.fields, errors)
            attachment_types = list(dict.fromkeys(data.attachment_types))
        else:
            code, fields, attachment_types = category.code, category.fields, category.attachment_types
        file_types = [t for t in ALL_TYPES if t in set(data.file_types)]
        if not file_types or set(data.file_types) - set(ALL_TYPES):
            errors["file_types"] = [_("Acceptez au moins un type de fichier : PDF, JPEG ou PNG.")]
        if not 1 <= data.max_file_mb <= 10:
            errors["max_file_mb"] = [_("Entre 1 et 10 Mo.")]
        if not 1 <= data.max_files <= 10:
            errors["max_files"] = [_("Entre 1 et 10 fichiers.")]
        elif data.max_files < len(attachment_types):
            errors["max_files"] = [
                _("Au moins %(n)s : un fichier par pièce obligatoire.") % {"n": len(attachment_types)}
            ]
        if errors:
            raise _invalid(_("La catégorie n'a pas été enregistrée : corrigez les erreurs."), errors)
        category.code = code
        category.title = title
        category.description = data.description.strip()
        category.fields = fields
        category.attachment_types = attachment_types
        category.file_types = file_types
        category.max_file_mb = data.max_file_mb
        category.max_files = data.max_files
        category.is_active = data.is_active
        category.position = data.position
        try:
            with transaction.atomic():
                category.save()
        except IntegrityError:
            raise _invalid(
                _("La catégorie n'a pas été enregistrée : corrigez les erreurs."),
                {"code": [_("Ce code est déjà celui d'une autre catégorie.")]},
            ) from None
    return category


def _locked_category(category_id: int) -> RequestCategory:
    category = RequestCategory.objects.select_for_update().filter(pk=category_id).first()
    if category is None:
        raise NotFound()
    return category


def _clean_fields(fields: tuple[FieldInput, ...], errors: dict[str, list[str]]) -> list[dict]:
    """The form's fields as stored: each with a stable key (kept when a field is edited)."""
    cleaned, keys, problems = [], set(), []
    for number, item in enumerate(fields, start=1):
        label = item.label.strip()
        if not label:
            problems.append(_("Champ %(n)s : indiquez son libellé.") % {"n": number})
            continue
        if item.kind not in FieldKind.values:
            problems.append(_("Champ %(n)s : type de champ inconnu.") % {"n": number})
            continue
        choices = [c.strip() for c in item.choices if c.strip()]
        if item.kind == FieldKind.CHOICE and len(set(choices)) < 2:
            problems.append(
                _("Champ « %(label)s » : indiquez au moins deux choix, un par ligne.") % {"label": label}
            )
        if item.kind == FieldKind.CHILD:
            if "child" in keys:
                problems.append(_("Un seul champ « choix d'un enfant » par formulaire."))
                continue
            key = "child"
        else:
            key = item.key if FIELD_KEY.fullmatch(item.key or "") and item.key not in RESERVED_KEYS else ""
            base = key or slugify(label).replace("-", "_")[:30].strip("_")
            if not base or not base[0].isalpha() or base in RESERVED_KEYS:
                base = f"champ_{base}".strip("_")[:30]
            key, suffix = base, 2
            while key in keys:
                key, suffix = f"{base}_{suffix}", suffix + 1
        keys.add(key)
        cleaned.append(
            {
                "key": key,
                "label": label[:150],
                "kind": item.kind,
                "required": bool(item.required),
                "choices": list(dict.fromkeys(choices)) if item.kind == FieldKind.CHOICE else [],
                "help": item.help.strip()[:300],
            }
        )
    if len(cleaned) > 20:
        problems.append(_("20 champs au plus."))
    if problems:
        errors["fields"] = problems
    return cleaned


# --- Families ------------------------------------------------------------------------------------


def submit_request(
    *,
    family: Family,
    actor: Account,
    category: RequestCategory,
    answers: dict,
    attachments: list[tuple[str, UploadedFile]],
    child: Child | None = None,
) -> Request:
    """ "Faire une demande": check the answers and the documents, then store the request, its
    files and its "created" history row. Refused as a whole with per-field messages; nothing
    is stored then (no row, no file)."""
    commune = _commune()
    category = RequestCategory.objects.filter(pk=category.pk, code=category.code).first()
    if category is None or not category.is_active:
        raise FoyerError(
            "category_unavailable",
            _("Cette catégorie de demande n'est plus proposée par la commune."),
            status=404,
        )
    if not (
        Membership.objects.filter(family=family, commune=commune, status=Membership.Status.ACTIVE).exists()
        and Guardian.objects.filter(family=family, account=actor).exists()
    ):
        raise NotFound()
    errors: dict[str, list[str]] = {}
    stored_answers, child = _clean_answers(category, answers or {}, child, family, errors)
    files = _clean_files(category, attachments, errors, required=True)
    if errors:
        raise _invalid(_("La demande n'a pas été envoyée : corrigez les erreurs."), errors)
    if not rate_limits.request_submission_allowed(actor.pk):
        raise FoyerError(
            "throttled",
            _(
                "Vous avez envoyé beaucoup de demandes en une heure : votre saisie est gardée, "
                "renvoyez-la un peu plus tard."
            ),
            status=429,
            extra={"retry_after": rate_limits.REQUESTS_WINDOW_SECONDS},
        )
    now = timezone.now()
    stored: list[str] = []
    try:
        with transaction.atomic(durable=True):
            request = Request.objects.create(
                category=category,
                family=family,
                child=child,
                created_by=actor,
                title=category.title,
                answers=stored_answers,
                updated_at=now,
            )
            event = RequestEvent.objects.create(
                request=request, kind=RequestEvent.Kind.CREATED, side=RequestEvent.Side.FAMILY, actor=actor
            )
            _store_files(request, event, files, actor, RequestEvent.Side.FAMILY, stored)
    except BaseException:
        _delete_files(stored)
        raise
    return request


def _clean_answers(
    category: RequestCategory, answers: dict, child: Child | None, family: Family, errors
) -> tuple[list[dict], Child | None]:
    stored = []
    if child is not None and child.family_id != family.pk:
        errors["child"] = [_("Choisissez un enfant de votre famille.")]
        child = None
    for spec in category.fields:
        key, kind = spec["key"], spec["kind"]
        if kind == FieldKind.CHILD:
            if child is None and "child" not in errors and spec.get("required"):
                errors["child"] = [_("Choisissez l'enfant concerné.")]
            if child is not None:
                stored.append(_answer(spec, str(child.pk), f"{child.first_name} {child.last_name}"))
            continue
        raw = answers.get(key)
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, "", []):
            if spec.get("required"):
                errors[key] = [_("Ce champ est obligatoire.")]
            continue
        if kind in TEXT_LIMITS:
            value = str(value)
            if len(value) > TEXT_LIMITS[kind]:
                errors[key] = [_("%(n)s caractères au plus.") % {"n": TEXT_LIMITS[kind]}]
                continue
            stored.append(_answer(spec, value, value))
        elif kind == FieldKind.DATE:
            day = _parse_date(value)
            if day is None:
                errors[key] = [_("Saisissez une date valide (jj/mm/aaaa).")]
                continue
            stored.append(_answer(spec, day.isoformat(), day.strftime("%d/%m/%Y")))
        elif kind == FieldKind.CHOICE:
            if value not in spec.get("choices", []):
                errors[key] = [_("Choisissez une des réponses proposées.")]
                continue
            stored.append(_answer(spec, value, value))
        else:
            errors[key] = [_("Ce champ n'est pas reconnu.")]
    return stored, child


def _answer(spec: dict, value: str, display: str) -> dict:
    return {
        "key": spec["key"],
        "label": spec["label"],
        "kind": spec["kind"],
        "value": value,
        "display": display,
    }


def _parse_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(str(value), fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class _CheckedFile:
    type_code: str
    upload: UploadedFile
    content_type: str


def _clean_files(
    category: RequestCategory, attachments, errors: dict[str, list[str]], *, required: bool, already: int = 0
) -> list[_CheckedFile]:
    """Each file: a known document type, not empty, not too large, of an accepted type (sniffed
    from its content). The sending: not too many files; with ``required``, one file at least
    for each document the category asks for."""
    attachments = [(code, upload) for code, upload in attachments or [] if upload]
    checked = []
    allowed_codes = set(category.attachment_types) | {AttachmentType.AUTRE}
    if len(attachments) > category.max_files:
        errors.setdefault("attachments", []).append(
            ngettext(
                "Un seul fichier par envoi : vous en avez joint %(count)s.",
                "%(max)s fichiers au plus par envoi : vous en avez joint %(count)s.",
                category.max_files,
            )
            % {"max": category.max_files, "count": len(attachments)}
        )
    elif already + len(attachments) > MAX_ATTACHMENTS_PER_REQUEST:
        errors.setdefault("attachments", []).append(
            _("Cette demande a déjà %(n)s documents : elle ne peut pas en recevoir plus.") % {"n": already}
        )
    for code, upload in attachments:
        if code not in allowed_codes:
            errors.setdefault("attachments", []).append(_("Type de pièce inconnu pour cette demande."))
            continue
        name = _original_name(upload)
        try:
            content_type = validate_attachment(
                upload, allowed_types=category.file_types, max_bytes=category.max_file_bytes
            )
        except FoyerError as exc:
            errors.setdefault(code, []).append(
                _("« %(name)s » : %(reason)s")
                % {"name": name, "reason": exc.message[0].lower() + exc.message[1:]}
            )
            continue
        checked.append(_CheckedFile(code, upload, content_type))
    if required:
        present = {code for code, _upload in attachments}
        for code in category.attachment_types:
            if code not in present:
                errors.setdefault(code, []).append(
                    _("Pièce jointe obligatoire : %(type)s.") % {"type": AttachmentType(code).label}
                )
    return checked


def _original_name(upload) -> str:
    name = PurePath(str(getattr(upload, "name", "") or "document").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name or "document")[-200:]


def _store_files(
    request: Request, event: RequestEvent, files: list[_CheckedFile], actor: Account, side: str, stored: list
) -> list[RequestAttachment]:
    """Write the files (their names are recorded in ``stored`` so that a rollback removes them)."""
    result = []
    for item in files:
        attachment = RequestAttachment(
            request=request,
            event=event,
            original_name=_original_name(item.upload),
            content_type=item.content_type,
            size=item.upload.size,
            type_code=item.type_code,
            side=side,
            uploaded_by=actor,
        )
        item.upload.seek(0)
        attachment.file.save(attachment.original_name, item.upload, save=False)
        stored.append(attachment.file.name)
        attachment.save()
        result.append(attachment)
    return result


def _delete_files(names: list[str]) -> None:
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - the original error matters more than a cleanup failure
            pass


def _family_request(family_ids: list[int], request_id: int) -> Request:
    request = (
        Request.objects.select_for_update(of=("self",))
        .select_related("category")
        .filter(pk=request_id, family_id__in=family_ids)
        .first()
    )
    if request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    return request


def _closed(request: Request) -> FoyerError:
    return FoyerError(
        "request_closed",
        _("Cette demande est close (%(status)s) : elle ne peut plus être modifiée.")
        % {"status": request.get_status_display().lower()},
        status=409,
    )


def reply_to_request(
    *,
    family_ids: list[int],
    actor: Account,
    request_id: int,
    message: str = "",
    attachments: list[tuple[str, UploadedFile]] | None = None,
) -> RequestEvent:
    """The family answers the commune or adds a document, while the request is open."""
    message = (message or "").strip()
    stored: list[str] = []
    try:
        with transaction.atomic(durable=True):
            request = _family_request(family_ids, request_id)
            if not request.is_open:
                raise _closed(request)
            errors: dict[str, list[str]] = {}
            files = _message_files(request, message, attachments, errors)
            if errors:
                raise _invalid(_("Votre réponse n'a pas été envoyée : corrigez les erreurs."), errors)
            event = _add_event(
                request,
                kind=RequestEvent.Kind.REPLY,
                side=RequestEvent.Side.FAMILY,
                actor=actor,
                message=message,
            )
            _store_files(request, event, files, actor, RequestEvent.Side.FAMILY, stored)
    except BaseException:
        _delete_files(stored)
        raise
    return event


def _message_files(request: Request, message: str, attachments, errors) -> list[_CheckedFile]:
    if len(message) > MAX_MESSAGE_LENGTH:
        errors["message"] = [_("%(n)s caractères au plus.") % {"n": MAX_MESSAGE_LENGTH}]
    files = _clean_files(
        request.category, attachments, errors, required=False, already=request.attachments.count()
    )
    if not message and not [upload for _code, upload in attachments or [] if upload] and not errors:
        errors["message"] = [_("Écrivez un message ou joignez un document.")]
    return files


def cancel_request(*, family_ids: list[int], actor: Account, request_id: int, message: str = "") -> Request:
    """The family withdraws its request (annuler), while it is open."""
    with transaction.atomic(durable=True):
        request = _family_request(family_ids, request_id)
        if not request.is_open:
            raise _closed(request)
        _change_status(
            request,
            Request.Status.CANCELLED,
            actor=actor,
            side=RequestEvent.Side.FAMILY,
            message=message.strip(),
        )
    return request


def _add_event(
    request: Request, *, kind: str, side: str, actor: Account, message: str = "", **extra
) -> RequestEvent:
    now = timezone.now()
    event = RequestEvent.objects.create(
        request=request, kind=kind, side=side, actor=actor, message=message, **extra
    )
    Request.objects.filter(pk=request.pk).update(updated_at=now)
    request.updated_at = now
    return event


def _transition(request: Request, status: str) -> None:
    if status not in Request.TRANSITIONS.get(request.status, set()):
        if not request.is_open:
            raise _closed(request)
        raise FoyerError(
            "invalid_transition",
            _("Une demande « %(from)s » ne peut pas passer à « %(to)s ».")
            % {"from": request.get_status_display().lower(), "to": Request.Status(status).label.lower()},
            status=409,
        )


def _change_status(request: Request, status: str, *, actor: Account, side: str, message: str) -> RequestEvent:
    _transition(request, status)
    previous = request.status
    request.status = status
    request.closed_at = None if status in Request.OPEN else timezone.now()
    request.save(update_fields=["status", "closed_at"])
    return _add_event(
        request,
        kind=RequestEvent.Kind.STATUS,
        side=side,
        actor=actor,
        message=message,
        from_status=previous,
        to_status=status,
    )


# --- Agents --------------------------------------------------------------------------------------


def _require_staff(actor: Account, *, admin: bool = False) -> StaffRole:
    role = (
        StaffRole.objects.filter(account=actor, commune=_commune()).first()
        if actor.is_authenticated
        else None
    )
    if role is None or (admin and role.role != StaffRole.Role.ADMIN):
        raise NotFound()
    return role


def _staff_request(request_id: int) -> Request:
    request = (
        Request.objects.select_for_update(of=("self",))
        .select_related("category")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    return request


def change_request_status(*, request_id: int, actor: Account, status: str, message: str = "") -> Request:
    """An agent takes the request in hand, accepts or refuses it (a refusal says why). The family
    is told by e-mail of a decision, and of any message."""
    _require_staff(actor)
    message = (message or "").strip()
    if status not in Request.Status.values or status == Request.Status.SUBMITTED:
        raise _invalid(_("Choisissez le nouveau statut."), {"status": [_("Statut inconnu.")]})
    if status == Request.Status.REJECTED and not message:
        raise _invalid(
            _("Expliquez le refus à la famille."), {"message": [_("Ce champ est obligatoire pour un refus.")]}
        )
    if len(message) > MAX_MESSAGE_LENGTH:
        raise _invalid(
            _("Message trop long."), {"message": [_("%(n)s caractères au plus.") % {"n": MAX_MESSAGE_LENGTH}]}
        )
    with transaction.atomic(durable=True):
        request = _staff_request(request_id)
        event = _change_status(request, status, actor=actor, side=RequestEvent.Side.COMMUNE, message=message)
        if status in Request.DECIDED or message:
            _notify_family(event)
    return request


def post_request_message(
    *,
    request_id: int,
    actor: Account,
    message: str,
    attachments: list[tuple[str, UploadedFile]] | None = None,
    internal: bool = False,
) -> RequestEvent:
    """An agent writes to the family (e-mailed to it), with documents if needed; or leaves an
    internal note the family never sees."""
    _require_staff(actor)
    message = (message or "").strip()
    stored: list[str] = []
    try:
        with transaction.atomic(durable=True):
            request = _staff_request(request_id)
            errors: dict[str, list[str]] = {}
            if internal:
                files = []
                if not message:
                    errors["message"] = [_("Écrivez la note.")]
                elif len(message) > MAX_MESSAGE_LENGTH:
                    errors["message"] = [_("%(n)s caractères au plus.") % {"n": MAX_MESSAGE_LENGTH}]
            else:
                files = _message_files(request, message, attachments, errors)
                if not message and files:
                    message = _("Document ajouté par la commune.")
            if errors:
                raise _invalid(_("Le message n'a pas été envoyé : corrigez les erreurs."), errors)
            kind = RequestEvent.Kind.NOTE if internal else RequestEvent.Kind.MESSAGE
            event = _add_event(
                request, kind=kind, side=RequestEvent.Side.COMMUNE, actor=actor, message=message
            )
            _store_files(request, event, files, actor, RequestEvent.Side.COMMUNE, stored)
            if not internal:
                _notify_family(event)
    except BaseException:
        _delete_files(stored)
        raise
    return event


def assign_request(*, request_id: int, actor: Account, assignee_id: int | None) -> Request:
    """Give the request to a member of the commune's staff (or to nobody)."""
    _require_staff(actor)
    assignee = None
    if assignee_id is not None:
        role = (
            StaffRole.objects.select_related("account")
            .filter(account_id=assignee_id, commune=_commune())
            .first()
        )
        if role is None:
            raise _invalid(
                _("Choisissez un membre de l'équipe de la commune."),
                {"assignee": [_("Cette personne ne fait pas partie de l'équipe.")]},
            )
        assignee = role.account
    with transaction.atomic(durable=True):
        request = _staff_request(request_id)
        if request.assignee_id == assignee_id:
            return request
        request.assignee = assignee
        request.save(update_fields=["assignee"])
        _add_event(
            request,
            kind=RequestEvent.Kind.ASSIGNED,
            side=RequestEvent.Side.COMMUNE,
            actor=actor,
            assignee=assignee,
        )
    return request


def _notify_family(event: RequestEvent) -> None:
    from .tasks import notify_request_event

    enqueue_on_commit(notify_request_event, schema_name=connection.schema_name, event_id=event.pk)
