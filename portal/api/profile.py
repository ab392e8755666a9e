"""REST API of the family profile (/api/profil/): the same selectors and services as the
pages, and the project's error format ({"code", "message", "extra"})."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from family import address
from shared_identity import selectors, services

from .openapi import errors


class IdentityInput(serializers.Serializer):
    first_name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    last_name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    phone = serializers.CharField(required=False, allow_blank=True)


class FamilyInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    home_phone = serializers.CharField(required=False, allow_blank=True)


class AddressInput(serializers.Serializer):
    # Checked by the service, with the proof, all at once.
    address_line = serializers.CharField(required=False, allow_blank=True, default="")
    postcode = serializers.CharField(required=False, allow_blank=True, default="")
    city = serializers.CharField(required=False, allow_blank=True, default="")
    justificatif = serializers.FileField(required=False, allow_empty_file=True)


class PreferencesInput(serializers.Serializer):
    invoice = serializers.BooleanField(required=False)
    request = serializers.BooleanField(required=False)
    reminder = serializers.BooleanField(required=False)
    news = serializers.BooleanField(required=False)


class AddressOut(serializers.Serializer):
    address_line = serializers.CharField()
    postcode = serializers.CharField()
    city = serializers.CharField()


class GuardianOut(serializers.Serializer):
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    has_account = serializers.BooleanField()
    is_me = serializers.BooleanField()


class ChildOut(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)


class MembershipOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    dossier_number = serializers.CharField()
    status = serializers.CharField()


class FamilyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    home_phone = serializers.CharField()
    address = AddressOut()
    guardians = GuardianOut(many=True)
    children = ChildOut(many=True)
    communes = MembershipOut(many=True)


class PreferencesOut(serializers.Serializer):
    invoice = serializers.BooleanField()
    request = serializers.BooleanField()
    reminder = serializers.BooleanField()
    news = serializers.BooleanField()


class ProfileOut(serializers.Serializer):
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    phone = serializers.CharField()
    pending_email = serializers.EmailField(allow_null=True)
    preferences = PreferencesOut()
    families = FamilyOut(many=True)


class AddressChangeOut(serializers.Serializer):
    message = serializers.CharField()
    family = FamilyOut()
    requests = serializers.ListField(
        child=serializers.DictField(), help_text="The request filed in each commune: {commune, id}."
    )


def _family(family, account) -> dict:
    return {
        "id": family.pk,
        "name": family.name,
        "home_phone": family.home_phone,
        "address": {"address_line": family.address_line, "postcode": family.postcode, "city": family.city},
        "guardians": [
            {
                "first_name": g.first_name,
                "last_name": g.last_name,
                "email": g.email,
                "phone": g.phone,
                "has_account": g.account_id is not None,
                "is_me": g.account_id == account.pk,
            }
            for g in family.guardians.all()
        ],
        "children": [
            {"id": c.pk, "first_name": c.first_name, "last_name": c.last_name, "birth_date": c.birth_date}
            for c in family.children.all()
        ],
        "communes": [
            {
                "slug": m.commune.slug,
                "name": m.commune.name,
                "dossier_number": m.dossier_number,
                "status": m.status,
            }
            for m in family.memberships.all()
        ],
    }


def _profile(account) -> dict:
    change = selectors.get_open_email_change(account)
    return {
        "email": account.email,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "phone": account.phone,
        "pending_email": change.new_email if change else None,
        "preferences": selectors.notification_preferences(account),
        "families": [_family(family, account) for family in selectors.list_families_of(account)],
    }


@extend_schema(tags=["profil"], request=IdentityInput, responses={200: ProfileOut, **errors(400)})
class ProfileView(APIView):
    """GET /api/profil/ — the account, its preferences and its families.
    PATCH /api/profil/ {first_name?, last_name?, phone?} — the signed-in guardian's own details."""

    def get(self, request):
        return Response(_profile(request.user))

    def patch(self, request):
        data = IdentityInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_my_identity(actor=request.user, **data.validated_data)
        return Response(_profile(request.user))


@extend_schema(tags=["profil"], request=FamilyInput, responses={200: FamilyOut, **errors(400, 404)})
class FamilyView(APIView):
    """PATCH /api/profil/familles/<id>/ {name?, home_phone?}"""

    def patch(self, request, family_id: int):
        data = FamilyInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_family(actor=request.user, family_id=family_id, **data.validated_data)
        family = selectors.list_families_of(request.user).get(pk=family_id)
        return Response(_family(family, request.user))


@extend_schema(
    tags=["profil"],
    request={"multipart/form-data": AddressInput},
    responses={201: AddressChangeOut, **errors(400, 404)},
)
class AddressView(APIView):
    """POST /api/profil/familles/<id>/adresse/ (multipart: address_line, postcode, city,
    justificatif) — the proof of address is required, as on the page."""

    parser_classes = [MultiPartParser, FormParser]

    def post(self, request, family_id: int):
        data = AddressInput(data=request.data)
        data.is_valid(raise_exception=True)
        change = address.change_family_address(
            actor=request.user,
            family_id=family_id,
            address=services.AddressInput(
                address_line=data.validated_data["address_line"],
                postcode=data.validated_data["postcode"],
                city=data.validated_data["city"],
            ),
            proof=data.validated_data.get("justificatif"),
        )
        family = selectors.list_families_of(request.user).get(pk=family_id)
        return Response(
            {
                "message": change.summary(),
                "family": _family(family, request.user),
                "requests": [
                    {"commune": commune.slug, "id": request_id} for commune, request_id in change.requests
                ],
            },
            status=201,
        )


@extend_schema(tags=["profil"], request=PreferencesInput, responses={200: PreferencesOut, **errors(400)})
class PreferencesView(APIView):
    """GET/PATCH /api/profil/preferences/ {invoice?, request?, reminder?, news?}"""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get(self, request):
        return Response(selectors.notification_preferences(request.user))

    def patch(self, request):
        data = PreferencesInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.set_notification_preferences(account=request.user, preferences=data.validated_data)
        return Response(selectors.notification_preferences(request.user))
