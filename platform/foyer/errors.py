"""One application error type, and one DRF handler that renders every error alike."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler


class FoyerError(Exception):
    """A refusal the person can understand: a stable code, an HTTP status, a French message.

    ``extra`` carries details such as per-field messages (``{"fields": {"slug": [...]}}``).
    """

    def __init__(self, code: str, message: str, *, status: int = 400, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}

    @property
    def field_errors(self) -> dict[str, list[str]]:
        return self.extra.get("fields", {})


class NotFound(FoyerError):
    """Absent and not-yours look the same."""

    def __init__(self, message: str | None = None):
        super().__init__(
            "not_found", message or _("Cette page n'existe pas ou n'est pas accessible."), status=404
        )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, FoyerError):
        retry_after = exc.extra.get("retry_after") if exc.status == 429 else None
        return Response(
            {"code": exc.code, "message": exc.message, "extra": exc.extra},
            status=exc.status,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )
    if isinstance(exc, Http404 | drf_exceptions.NotFound):
        return Response(
            {"code": "not_found", "message": _("Cette ressource n'existe pas."), "extra": {}}, status=404
        )
    if isinstance(exc, PermissionDenied | drf_exceptions.PermissionDenied):
        return Response(
            {"code": "forbidden", "message": _("Vous n'avez pas le droit de faire cela."), "extra": {}},
            status=403,
        )
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return Response(
            {"code": "not_authenticated", "message": _("Connectez-vous pour continuer."), "extra": {}},
            status=exc.status_code,
            # DRF's challenge on a 401 (Bearer, for the API keys).
            headers={"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else None,
        )
    if isinstance(exc, drf_exceptions.Throttled):
        wait = max(1, math.ceil(exc.wait or 60))
        return Response(
            {
                "code": "throttled",
                "message": _("Trop de requêtes en peu de temps : réessayez dans %(seconds)s secondes.")
                % {"seconds": wait},
                "extra": {"retry_after": wait},
            },
            status=429,
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            {
                "code": "invalid",
                "message": _("Certaines informations sont invalides."),
                "extra": {"fields": detail},
            },
            status=400,
        )
    response = drf_default_handler(exc, context)
    if response is not None:
        response.data = {"code": getattr(exc, "default_code", "error"), "message": str(exc), "extra": {}}
    return response


class FoyerErrorMiddleware:
    """HTML pages show a refusal to the person (the same French message), never a trace."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, FoyerError):
            return None
        from django.shortcuts import render

        template = "404.html" if exception.status == 404 else "error.html"
        return render(request, template, {"error": exception}, status=exception.status)


def apply_errors(form: forms.Form, error: FoyerError) -> None:
    """Show a service's refusal on the form: per-field messages, else a general one."""
    fields = error.field_errors
    for field, messages in fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
    if not fields:
        form.add_error(None, error.message)
