"""Request bodies are bounded before anything reads them.

* ``RequestBodyLimitMiddleware`` (first in settings.MIDDLEWARE) refuses with 413 and a French
  message a declared ``Content-Length`` above ``FOYER_MAX_REQUEST_BYTES``; once the view is
  known, above the view's own limit (``request_body_limit``) or, for an anonymous visitor,
  above ``FOYER_MAX_ANONYMOUS_REQUEST_BYTES``. Nothing of the body is read.
* ``limit_chunked_bodies`` wraps the WSGI application (foyer.wsgi): a chunked body (no
  ``Content-Length``) is read up to the maximum into a spooled file and handed on with its
  length, or cut there and refused by the middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from tempfile import SpooledTemporaryFile

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _

from foyer.input_guard import refusal_response

# Set on the WSGI environ when a chunked body went past the maximum and was cut.
BODY_CUT = "foyer.request_body_cut"
_READ_SIZE = 64 * 1024


def request_body_limit(max_bytes: int):
    """Give a view (function, or a class with ``as_view``) its own body limit."""

    def decorate(view):
        view.max_request_bytes = max_bytes
        return view

    return decorate


def _view_limit(view_func) -> int | None:
    limit = getattr(view_func, "max_request_bytes", None)
    if limit is None:
        limit = getattr(getattr(view_func, "view_class", None), "max_request_bytes", None)
    if limit is None:
        limit = getattr(getattr(view_func, "cls", None), "max_request_bytes", None)
    return limit


def _declared_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def too_large_response(request, max_bytes: int) -> HttpResponse:
    megabytes = max_bytes / (1024 * 1024)
    size = f"{megabytes:.1f}".replace(".", ",").removesuffix(",0") + " Mo"
    if max_bytes < 1024 * 1024:
        size = f"{max_bytes // 1024} Ko"
    message = _("La requête est trop volumineuse : %(max)s au plus. Rien n'a été enregistré.") % {"max": size}
    return refusal_response(
        request,
        status=413,
        code="request_too_large",
        title=_("Requête trop volumineuse"),
        message=message,
        extra={"max_bytes": max_bytes},
    )


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ceiling = settings.FOYER_MAX_REQUEST_BYTES
        if request.META.get(BODY_CUT) or _declared_length(request) > ceiling:
            return too_large_response(request, ceiling)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        length = _declared_length(request)
        if not length:
            return None
        limit = _view_limit(view_func)
        if limit is None and length > settings.FOYER_MAX_ANONYMOUS_REQUEST_BYTES:
            if not request.user.is_authenticated:
                limit = settings.FOYER_MAX_ANONYMOUS_REQUEST_BYTES
        if limit is not None and length > limit:
            return too_large_response(request, limit)
        return None


def limit_chunked_bodies(application: Callable) -> Callable:
    """WSGI: give a chunked request body a length, reading at most the maximum plus one byte."""

    def wrapped(environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            environ["wsgi.input"], length = _read_bounded(
                environ["wsgi.input"], settings.FOYER_MAX_REQUEST_BYTES
            )
            if length is None:
                environ[BODY_CUT] = True
                length = 0
            environ["CONTENT_LENGTH"] = str(length)
        return application(environ, start_response)

    return wrapped


def _read_bounded(stream, max_bytes: int):
    """(a file holding the body, its length), or (an empty file, None) past ``max_bytes``."""
    body = SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
    length = 0
    while length <= max_bytes:
        chunk = stream.read(min(_READ_SIZE, max_bytes + 1 - length))
        if not chunk:
            break
        body.write(chunk)
        length += len(chunk)
    if length > max_bytes:
        body.close()
        return SpooledTemporaryFile(max_size=1), None
    body.seek(0)
    return body, length
