"""REST API for "Mon compte": personal API keys, the calendar link, data rights (export,
deletion) and the second guardian's invitation. The same services as the pages
(shared_identity.services, family.data_rights).

    GET|POST    /api/compte/cles/                              keys; create one (shown once)
    DELETE      /api/compte/cles/<id>/                         revoke it
    GET|POST|DELETE /api/profil/familles/<id>/calendrier/      the iCal link: read, new one, off
    GET|POST    /api/compte/donnees/                           archives; ask for one
    GET         /api/compte/donnees/<id>/                      one archive's status
    GET         /api/compte/donnees/<id>/telecharger/          the ZIP
    GET|POST|DELETE /api/compte/suppression/                   account deletion
    POST|DELETE /api/profil/familles/<id>/invitation/          invite the other guardian
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from family import data_rights, router
from shared_identity import selectors, services
from shared_identity.models import DataExport, DeletionRequest

from ..account_views import data_export_file
from .openapi import CommuneSerializer, errors, money

# --- Personal API keys ----------------------------------------------------------------------------


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, help_text="What uses the key, e.g. the software's name.")


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters, to recognise it.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    key = serializers.CharField(help_text="The key, shown this once: `Authorization: Bearer <key>`.")


class TokenListOut(serializers.Serializer):
    tokens = TokenOut(many=True)


@extend_schema(tags=["compte"])
class TokensView(APIView):
    """Personal API keys: other software uses this API in the account's name."""

    @extend_schema(responses={200: TokenListOut, **errors()})
    def get(self, request):
        return Response(TokenListOut({"tokens": selectors.list_personal_api_tokens(request.user)}).data)

    @extend_schema(request=TokenInput, responses={201: TokenCreatedOut, **errors(400, 409)})
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.create_personal_api_token(actor=request.user, name=data.validated_data["name"])
        token.key = raw
        return Response(TokenCreatedOut(token).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["compte"], responses={204: None, **errors(404)})
class TokenView(APIView):
    """Revoke a key: it opens nothing any more."""

    def delete(self, request, token_id: int):
        services.revoke_personal_api_token(actor=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Calendar link ------------------------------------------------------------------------------------


class CalendarOut(serializers.Serializer):
    family = serializers.IntegerField()
    url = serializers.URLField(allow_null=True, help_text="The private iCal feed; null when off.")


def _calendar(request, family) -> dict:
    url = None
    if family.ical_token:
        url = request.build_absolute_uri(reverse("portal:calendar_feed", args=[family.ical_token]))
    return {"family": family.pk, "url": url}


@extend_schema(tags=["compte"])
class CalendarView(APIView):
    """The family's private calendar feed (iCal): read its address, make a new one (the old
    one stops working), or turn it off."""

    @extend_schema(responses={200: CalendarOut, **errors(404)})
    def get(self, request, family_id: int):
        return Response(
            CalendarOut(_calendar(request, selectors.get_family_for_account(request.user, family_id))).data
        )

    @extend_schema(request=None, responses={200: CalendarOut, **errors(404)})
    def post(self, request, family_id: int):
        family = selectors.get_family_for_account(request.user, family_id)
        family.ical_token = services.rotate_calendar_token(family=family)
        return Response(CalendarOut(_calendar(request, family)).data)

    @extend_schema(responses={200: CalendarOut, **errors(404)})
    def delete(self, request, family_id: int):
        family = selectors.get_family_for_account(request.user, family_id)
        services.revoke_calendar_token(family=family)
        family.ical_token = None
        return Response(CalendarOut(_calendar(request, family)).data)


# --- Data export --------------------------------------------------------------------------------------


class ExportOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=DataExport.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    size = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, export) -> str | None:
        if export.status != DataExport.Status.READY:
            return None
        return reverse("api_data_export_download", args=[export.pk])


class ExportListOut(serializers.Serializer):
    exports = ExportOut(many=True)


@extend_schema(tags=["compte"])
class DataExportsView(APIView):
    """ "Télécharger mes données": a ZIP of everything about the account's families in all their
    communes, prepared in the background (an e-mail says when it is ready, for 7 days)."""

    @extend_schema(responses={200: ExportListOut, **errors()})
    def get(self, request):
        return Response(ExportListOut({"exports": selectors.list_data_exports(request.user)}).data)

    @extend_schema(request=None, responses={202: ExportOut, **errors()})
    def post(self, request):
        export = data_rights.request_data_export(actor=request.user)
        return Response(ExportOut(export).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["compte"])
class DataExportView(APIView):
    """One archive's status."""

    @extend_schema(operation_id="compte_donnees_detail", responses={200: ExportOut, **errors(404)})
    def get(self, request, export_id: int):
        export = next((e for e in selectors.list_data_exports(request.user) if e.pk == export_id), None)
        if export is None:
            raise Http404
        return Response(ExportOut(export).data)


@extend_schema(
    tags=["compte"],
    responses={
        (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The archive."),
        **errors(404),
    },
)
class DataExportDownloadView(APIView):
    """The ready archive (ZIP), by its owner only, until it expires."""

    def get(self, request, export_id: int):
        return data_export_file(request.user, export_id)


# --- Account deletion ---------------------------------------------------------------------------------


class DeletionInput(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    confirmed = serializers.BooleanField()


class OpenInvoiceOut(serializers.Serializer):
    commune = CommuneSerializer()
    reference = serializers.CharField()
    amount_due = money()
    due_date = serializers.DateField(allow_null=True)


class DeletionOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[("none", "none"), *DeletionRequest.Status.choices],
        help_text="`pending`: waits for the invoices below to be paid; `completed`: the account is anonymised.",
    )
    requested_at = serializers.DateTimeField(allow_null=True)
    open_invoices = OpenInvoiceOut(many=True)


def _deletion(deletion, open_invoices) -> dict:
    return {
        "status": deletion.status if deletion else "none",
        "requested_at": deletion.created_at if deletion else None,
        "open_invoices": [
            {
                "commune": {"slug": i.commune.slug, "name": i.commune.name},
                "reference": i.reference,
                "amount_due": i.amount_due,
                "due_date": i.due_date,
            }
            for i in open_invoices
        ],
    }


@extend_schema(tags=["compte"])
class AccountDeletionView(APIView):
    """ "Supprimer mon compte": anonymised at once when no invoice is open anywhere; otherwise
    the request waits until they are paid (invoices themselves are kept)."""

    @extend_schema(responses={200: DeletionOut, **errors()})
    def get(self, request):
        deletion = selectors.get_pending_deletion(request.user)
        return Response(
            DeletionOut(
                _deletion(deletion, router.list_open_invoices_of(request.user) if deletion else [])
            ).data
        )

    @extend_schema(request=DeletionInput, responses={200: DeletionOut, 202: DeletionOut, **errors(400)})
    def post(self, request):
        data = DeletionInput(data=request.data)
        data.is_valid(raise_exception=True)
        deletion, open_invoices = data_rights.request_account_deletion(
            actor=request.user, **data.validated_data
        )
        body = DeletionOut(_deletion(deletion, open_invoices)).data
        if deletion.status == DeletionRequest.Status.COMPLETED:
            if request.session is not None and request.user.is_authenticated:
                logout(request._request)
            return Response(body)
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: DeletionOut, **errors(404)})
    def delete(self, request):
        data_rights.cancel_account_deletion(actor=request.user)
        return Response(DeletionOut(_deletion(None, [])).data)


# --- Second guardian ------------------------------------------------------------------------------------


class InvitationInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class InvitationOut(serializers.Serializer):
    family = serializers.IntegerField(source="family_id")
    email = serializers.EmailField()
    expires_at = serializers.DateTimeField()


@extend_schema(tags=["compte"])
class GuardianInvitationView(APIView):
    """Invite the family's other guardian (a link valid 72 hours, sent by e-mail; inviting
    again replaces it), or withdraw the invitation."""

    @extend_schema(request=InvitationInput, responses={201: InvitationOut, **errors(400, 404, 409)})
    def post(self, request, family_id: int):
        selectors.get_family_for_account(request.user, family_id)
        data = InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invite_guardian(
            actor=request.user, family_id=family_id, email=data.validated_data["email"]
        )
        return Response(InvitationOut(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, family_id: int):
        services.cancel_guardian_invitation(actor=request.user, family_id=family_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
