"""Request bodies are bounded before they are read: a declared Content-Length above the limit
is refused with 413 and a French message without reading a byte; a chunked body is read up to
the limit at most."""

from __future__ import annotations

import html
import io
import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test.client import FakePayload

from foyer.request_limits import limit_chunked_bodies
from tests.conftest import commune_path, make_family, open_to_families

MB = 1024 * 1024


class UnreadableBody(io.RawIOBase):
    """A body that must not be read."""

    def readable(self) -> bool:
        return True

    def read(self, size=-1):
        raise AssertionError("the body was read")

    readinto = read


class EndlessBody(io.RawIOBase):
    """A chunked body that never ends, counting what was read of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size=-1):
        size = 64 * 1024 if size is None or size < 0 else size
        self.read_bytes += size
        return b"a" * size


def _post(client, path: str, length: int, body=None, **extra):
    """POST with a declared Content-Length, and a body stream that is the given one."""
    return client.generic(
        "POST",
        path,
        b"",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": body if body is not None else UnreadableBody()},
        **extra,
    )


def test_a_200_mb_body_is_refused_unread_on_the_anonymous_webhook(client, commune_a):
    # when 200 Mo are announced to the payment webhook
    response = _post(client, commune_path(commune_a, "paiement/webhook/abc/"), 200 * MB)
    # then 413 with a French page, and the body was never read (UnreadableBody would raise)
    assert response.status_code == 413
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = html.unescape(response.content.decode())  # the page escapes what it shows
    assert "<h1>Requête trop volumineuse</h1>" in page
    assert "La requête est trop volumineuse : 101 Mo au plus. Rien n'a été enregistré." in page
    # and the answer still carries the browser policy
    directives = [directive.strip() for directive in response["Content-Security-Policy"].split(";")]
    assert "script-src 'self'" in directives


def test_a_200_mb_upload_of_a_signed_in_family_is_refused_unread(client, commune_a):
    # given a signed-in family
    open_to_families(commune_a)
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    # when 200 Mo are announced to a request form, or to the API
    page = _post(client, commune_path(commune_a, "demandes/nouvelle/autre-demande/"), 200 * MB)
    api = _post(client, commune_path(commune_a, "api/demandes/"), 200 * MB)
    # then both are refused unread, the API in its JSON shape
    assert page.status_code == 413
    assert api.status_code == 413
    assert api.json() == {
        "code": "request_too_large",
        "message": "La requête est trop volumineuse : 101 Mo au plus. Rien n'a été enregistré.",
        "extra": {"max_bytes": 101 * MB},
    }


def test_the_webhook_takes_a_small_body_only(client, commune_a):
    # when the webhook gets 20 Ko, more than Mollie ever sends
    refused = _post(client, commune_path(commune_a, "paiement/webhook/abc/"), 20 * 1024)
    # then it is refused unread with its own limit
    assert refused.status_code == 413
    assert "16 Ko au plus" in refused.content.decode()
    # while Mollie's notification goes through (an unknown token is answered 200 too)
    ok = client.post(commune_path(commune_a, "paiement/webhook/abc/"), {"id": "tr_unknown"})
    assert ok.status_code == 200


def test_anonymous_visitors_send_text_only(client, commune_a):
    # when someone not signed in posts 2 Mo to the sign-in page
    response = _post(client, "/connexion/", 2 * MB)
    # then it is refused unread
    assert response.status_code == 413
    assert "1 Mo au plus" in response.content.decode()
    # while a signed-in family may send as much to its forms (the view answers, here a
    # form error for a body that is no valid multipart)
    open_to_families(commune_a)
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    body = b"--xyz--\r\n" + b" " * (2 * MB)
    signed_in = _post(
        client, commune_path(commune_a, "demandes/nouvelle/autre-demande/"), len(body), FakePayload(body)
    )
    assert signed_in.status_code != 413


def test_the_regie_api_has_its_own_limit(client, commune_a):
    # given a caller with a bearer key (anonymous to Django)
    auth = {"HTTP_AUTHORIZATION": "Bearer not-a-key"}
    path = commune_path(commune_a, "api/regie/factures/")
    # when it pushes 2 Mo, then the limit lets it through (the key is then refused)
    body = json.dumps(["x" * (2 * MB)]).encode()
    passed = client.generic("POST", path, body, content_type="application/json", **auth)
    assert passed.status_code in (401, 403)
    # and 11 Mo are refused unread
    refused = _post(client, path, 11 * MB, **auth)
    assert refused.status_code == 413
    assert refused.json()["extra"] == {"max_bytes": 10 * MB}


# --- Chunked bodies (no Content-Length) -----------------------------------------------------------


def _call(application, environ: dict) -> tuple[str, bytes]:
    status = []
    # As Django's test client does: the test's database connection stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, lambda s, headers, exc_info=None: status.append(s)))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return status[0], body


def _chunked_environ(path: str, stream) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def test_an_endless_chunked_body_is_cut_at_the_limit_and_refused(settings):
    # given the platform's WSGI application, with a limit of 1 Mo
    from foyer.wsgi import application

    settings.FOYER_MAX_REQUEST_BYTES = MB
    body = EndlessBody()
    # when a chunked body that never ends is posted
    status, page = _call(application, _chunked_environ("/c/jolieville/paiement/webhook/abc/", body))
    # then no more than the limit and one byte were read, and the request is refused in French
    assert body.read_bytes == MB + 1
    assert status.startswith("413")
    assert "La requête est trop volumineuse : 1 Mo au plus." in page.decode()


def test_a_small_chunked_body_reaches_the_view_with_its_length():
    # given an application that reads its body as Django does (up to CONTENT_LENGTH)
    seen = {}

    def application(environ, start_response):
        seen["length"] = environ["CONTENT_LENGTH"]
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [])
        return [b""]

    # when a chunked body of 10 bytes arrives
    status, _body = _call(limit_chunked_bodies(application), _chunked_environ("/", io.BytesIO(b"id=tr_1234")))
    # then the application gets it whole, with its length
    assert status == "200 OK"
    assert seen == {"length": "10", "body": b"id=tr_1234"}


@pytest.mark.parametrize("length", ["", "abc", "-5"])
def test_a_missing_or_malformed_content_length_is_not_an_error(client, length):
    # when the declared length is missing or not a number
    response = client.generic("POST", "/connexion/", b"", CONTENT_LENGTH=length)
    # then the request goes on (Django reads no body) and the page answers
    assert response.status_code in (200, 403)
