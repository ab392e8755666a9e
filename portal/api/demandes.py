"""REST API for the family's requests: the same selectors and services as the pages, session
authentication, and the project's error format ({"code", "message", "extra"}).

    GET  /api/demandes/                              the family's requests in every commune
    GET  /c/<slug>/api/demandes/categories/          what the commune offers
    POST /c/<slug>/api/demandes/                     file a request (multipart)
    GET  /c/<slug>/api/demandes/<id>/                one request with its history
    POST /c/<slug>/api/demandes/<id>/reponses/       reply or add documents (multipart)
    POST /c/<slug>/api/demandes/<id>/annuler/        cancel it

Filing (multipart/form-data): ``category`` (its code), ``child`` (id, when the form asks
for a child), ``answers`` (a JSON object: field key → value, dates as YYYY-MM-DD) and the
files, each under its document type code (``piece_identite``…, ``autre``), repeatable.
"""

from __future__ import annotations

import json

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from demandes import selectors, services
from demandes.models import AttachmentType, Request, RequestCategory
from family import router
from family.router import get_family_scope, get_family_scope_in
from foyer.errors import FoyerError

from .openapi import errors


class SubmitInput(serializers.Serializer):
    category = serializers.SlugField(max_length=60)
    child = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    answers = serializers.JSONField(required=False)
    family = serializers.IntegerField(min_value=1, required=False)


class ReplyInput(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class FieldOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()
    required = serializers.BooleanField(allow_null=True)
    choices = serializers.JSONField(allow_null=True)
    help = serializers.CharField(allow_null=True)


class CodeLabelOut(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class CategoryOut(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    fields = FieldOut(many=True)
    attachment_types = CodeLabelOut(many=True)
    file_types = serializers.ListField(child=serializers.CharField())
    max_file_mb = serializers.IntegerField()
    max_files = serializers.IntegerField()


class CategoriesOut(serializers.Serializer):
    categories = CategoryOut(many=True)


class AttachmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type_code = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField()


class EventOut(serializers.Serializer):
    kind = serializers.CharField()
    side = serializers.CharField()
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    attachments = AttachmentOut(many=True)


class AnswerOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField(allow_null=True)
    value = serializers.JSONField(allow_null=True)
    display = serializers.CharField(allow_null=True)


class RequestDetailOut(serializers.Serializer):
    id = serializers.IntegerField()
    category = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    is_open = serializers.BooleanField()
    child = serializers.IntegerField(allow_null=True)
    answers = AnswerOut(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    events = EventOut(many=True)


class ReplyOut(serializers.Serializer):
    kind = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    attachments = AttachmentOut(many=True)


class RequestMessageOut(serializers.Serializer):
    at = serializers.DateTimeField()
    message = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_null=True)


class RequestSummaryOut(serializers.Serializer):
    commune = serializers.CharField()
    id = serializers.IntegerField()
    title = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    is_open = serializers.BooleanField()
    child = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    attachment_count = serializers.IntegerField()
    messages = RequestMessageOut(many=True)


class RequestsOut(serializers.Serializer):
    requests = RequestSummaryOut(many=True)


def _files(request, codes) -> list[tuple]:
    return [(code, upload) for code in codes for upload in request.FILES.getlist(code)]


def _category(category: RequestCategory) -> dict:
    return {
        "code": category.code,
        "title": category.title,
        "description": category.description,
        "fields": [
            {k: f.get(k) for k in ("key", "label", "kind", "required", "choices", "help")}
            for f in category.fields
        ],
        "attachment_types": [
            {"code": c, "label": AttachmentType(c).label} for c in category.attachment_types
        ],
        "file_types": category.file_types,
        "max_file_mb": category.max_file_mb,
        "max_files": category.max_files,
    }


def _attachment(attachment) -> dict:
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "type_code": attachment.type_code,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": reverse("commune_demandes:attachment", args=[attachment.pk]),
    }


def _detail(demande: Request) -> dict:
    return {
        "id": demande.pk,
        "category": demande.category.code,
        "title": demande.title,
        "status": demande.status,
        "status_label": demande.get_status_display(),
        "is_open": demande.is_open,
        "child": demande.child_id,
        "answers": [{k: a.get(k) for k in ("key", "label", "value", "display")} for a in demande.answers],
        "created_at": demande.created_at,
        "updated_at": demande.updated_at,
        "events": [
            {
                "kind": event.kind,
                "side": event.side,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "message": event.message,
                "created_at": event.created_at,
                "attachments": [_attachment(a) for a in event.attachments.all()],
            }
            for event in demande.events.all()
        ],
    }


@extend_schema(tags=["demandes"], responses={200: RequestsOut, **errors()})
class FamilyRequestsView(APIView):
    """GET /api/demandes/: every request of the family, all communes, in one query."""

    def get(self, request):
        scope = get_family_scope(request.user)
        rows = router.list_family_requests(family_ids=scope.family_ids, communes=scope.open_communes)
        return Response(
            {
                "requests": [
                    {
                        "commune": row.commune.slug,
                        "id": row.id,
                        "title": row.title,
                        "category": row.category_code,
                        "status": row.status,
                        "status_label": row.status_label,
                        "is_open": row.is_open,
                        "child": row.child_id,
                        "created_at": row.created_at,
                        "updated_at": row.updated_at,
                        "attachment_count": row.attachment_count,
                        "messages": [
                            {"at": m["at"], "message": m["message"], "status": m["to_status"]}
                            for m in row.messages
                        ],
                    }
                    for row in rows
                ]
            }
        )


@extend_schema(tags=["demandes"], responses={200: CategoriesOut, **errors(404)})
class CategoriesView(APIView):
    """GET /c/<slug>/api/demandes/categories/"""

    def get(self, request):
        selectors.get_commune_families(account=request.user, commune=request.commune)
        return Response({"categories": [_category(c) for c in selectors.list_offered_categories()]})


@extend_schema(
    tags=["demandes"],
    request={"multipart/form-data": SubmitInput},
    responses={201: RequestDetailOut, **errors(400, 404)},
)
class SubmitView(APIView):
    """POST /c/<slug>/api/demandes/: file a request; 201 with the request, or 400 with the
    refused fields (nothing stored)."""

    def post(self, request):
        families = selectors.get_commune_families(account=request.user, commune=request.commune)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        category = selectors.get_offered_category(code=data.validated_data["category"])
        answers = data.validated_data.get("answers") or {}
        if isinstance(answers, str):
            try:
                answers = json.loads(answers)
            except ValueError:
                answers = None
        if not isinstance(answers, dict):
            raise FoyerError(
                "invalid",
                _("Les réponses s'envoient en objet JSON (clé du champ → valeur)."),
                extra={"fields": {"answers": [_("Objet JSON attendu.")]}},
            )
        family_id = data.validated_data.get("family")
        family = next((f for f in families if f.pk == family_id), None) if family_id else families[0]
        children = selectors.list_children_of_families([family]) if family else []
        child_id = data.validated_data.get("child")
        child = next((c for c in children if c.pk == child_id), None)
        if family is None or (child_id and child is None):
            raise FoyerError(
                "invalid",
                _("La demande n'a pas été envoyée : corrigez les erreurs."),
                extra={"fields": {"child" if family else "family": [_("Choisissez dans votre famille.")]}},
            )
        created = services.submit_request(
            family=family,
            actor=request.user,
            category=category,
            answers=answers,
            attachments=_files(request, AttachmentType.values),
            child=child,
        )
        scope_ids = [f.pk for f in families]
        return Response(
            _detail(selectors.get_family_request(family_ids=scope_ids, request_id=created.pk)),
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["demandes"], responses={200: RequestDetailOut, **errors(404)})
class DetailView(APIView):
    """GET /c/<slug>/api/demandes/<id>/"""

    def get(self, request, request_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        return Response(
            _detail(selectors.get_family_request(family_ids=scope.family_ids, request_id=request_id))
        )


@extend_schema(
    tags=["demandes"],
    request={"multipart/form-data": ReplyInput},
    responses={201: ReplyOut, **errors(400, 404, 409)},
)
class ReplyView(APIView):
    """POST /c/<slug>/api/demandes/<id>/reponses/: ``message`` and/or files under their type code."""

    def post(self, request, request_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        data = ReplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.reply_to_request(
            family_ids=scope.family_ids,
            actor=request.user,
            request_id=request_id,
            message=data.validated_data.get("message", ""),
            attachments=_files(request, AttachmentType.values),
        )
        return Response(
            {
                "kind": event.kind,
                "message": event.message,
                "created_at": event.created_at,
                "attachments": [_attachment(a) for a in event.attachments.all()],
            },
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["demandes"], request=None, responses={200: RequestDetailOut, **errors(404, 409)})
class CancelView(APIView):
    """POST /c/<slug>/api/demandes/<id>/annuler/"""

    def post(self, request, request_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        services.cancel_request(family_ids=scope.family_ids, actor=request.user, request_id=request_id)
        return Response(
            _detail(selectors.get_family_request(family_ids=scope.family_ids, request_id=request_id))
        )
