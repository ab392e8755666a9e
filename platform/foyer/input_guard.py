"""Characters no page can take: a NUL byte anywhere in what a request sends.

PostgreSQL refuses a NUL in text, so a NUL that reaches a query (a commune's slug in the path,
a search, a form field) would end in a server error. ``NulByteGuardMiddleware`` answers 400
with a French message instead, before anything reads the request:

* the path and the query string, as the request comes in (before the commune is looked up);
* the form fields (``application/x-www-form-urlencoded`` and multipart), once the view is
  known: ``foyer.request_limits`` has checked the body's size by then.

JSON bodies are the API's: its serializers refuse a NUL in a text field themselves.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from django.http import HttpResponse
from django.utils.html import escape
from django.utils.translation import gettext as _

NUL = "\x00"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def has_nul(values) -> bool:
    return any(NUL in key or any(NUL in value for value in values.getlist(key)) for key in values)


def _query_has_nul(request) -> bool:
    return b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", ""))


def refusal_response(request, *, status: int, code: str, title: str, message: str, extra=None):
    """A short refusal before any view runs: the API's JSON error, else a plain French page."""
    if "/api/" in request.path_info:
        body = {"code": code, "message": message, "extra": extra or {}}
        return HttpResponse(json.dumps(body), status=status, content_type="application/json")
    page = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Foyer</title></head><body><main>"
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f'<p><a href="/">{escape(_("Retour à l’accueil"))}</a></p></main></body></html>'
    )
    return HttpResponse(page, status=status, content_type="text/html; charset=utf-8")


def nul_refused(request) -> HttpResponse:
    return refusal_response(
        request,
        status=400,
        code="invalid_character",
        title=_("Requête invalide"),
        message=_(
            "La requête contient un caractère interdit (caractère nul). Rien n'a été enregistré : "
            "corrigez l'adresse ou le texte saisi."
        ),
    )


class NulByteGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path_info or _query_has_nul(request):
            return nul_refused(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        if not request.content_type.startswith(_FORM_TYPES):
            return None
        try:
            fields = request.POST
        except Exception:  # noqa: BLE001 — a malformed body is the view's (or CSRF's) to refuse
            return None
        return nul_refused(request) if has_nul(fields) else None
