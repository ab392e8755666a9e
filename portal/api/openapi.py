"""What every endpoint shares in the OpenAPI schema: the error body and the error responses."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a stable machine code, a French message, details (``extra.fields`` holds
    per-field messages)."""

    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()


_DESCRIPTIONS = {
    400: "Invalid input (code `invalid`, per-field messages in `extra.fields`) or a refusal.",
    401: "Not signed in, or an unknown or revoked API key.",
    403: "Forbidden (for a session: a missing CSRF token).",
    404: "Absent, or another family's or commune's: the same answer.",
    409: "Refused in the current state (deadline passed, already done…).",
    503: "The payment provider does not answer; try again later.",
}


def errors(*statuses: int) -> dict:
    """The error responses of an endpoint: 401 and 403 always, plus ``statuses``."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status])
        for status in sorted({401, 403, *statuses})
    }


SLUG = OpenApiParameter(
    "slug", str, OpenApiParameter.PATH, description="The commune, as in /c/{slug}/ (`jolieville`)."
)


def money() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)


class CommuneSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "shared_identity.api_auth.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "foyer_pt_…",
            "description": "A personal key created in « Mon compte » (shown once).",
        }
