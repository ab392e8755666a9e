"""A fake Mollie API on loopback, faithful to what mollie-api-python 4.x and Foyer use.

- ``/v2/…``: the API (Bearer API key of an account the fake knows, problem JSON errors,
  idempotency keys, HAL links on the fake's own base URL);
- ``/checkout/{id}``: a French test checkout page with the buttons Payé / Échoué / Annulé /
  Expiré; a choice fires the webhook (in the background, with retries) and redirects (303) to
  the payment's ``redirectUrl``;
- ``/_fake/…``: test-only controls without authentication (accounts, statuses, chargebacks,
  refund statuses, webhook log, reset, fault injection), mirrored by methods of :class:`FakeMollie`.

Like Mollie, the fake only accepts the API keys of the accounts it knows: each is added
explicitly (:meth:`FakeMollie.add_account`, ``POST /_fake/accounts``, ``--account`` on the
command line). Any other key, a malformed one or none gets Mollie's 401, word for word. One
key is one account (a test key and a live key are two); an account only sees the payments
made with its key: another account's payment is 404, as on Mollie.

Nothing here needs Django. The only outgoing request is the webhook POST, and by default only
to a loopback host (``allow_any_webhook_host=True`` lifts that for a demo on several hosts)."""

from __future__ import annotations

import html
import json
import re
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from .state import (
    WEBHOOK_STATUSES,
    ApiError,
    Store,
    fingerprint,
    make_fault,
    now_iso,
    problem,
)

TEST_KEY = "test_FoyerFakeMollieTestKey0000000001"
OTHER_TEST_KEY = "test_FoyerFakeMollieTestKey0000000002"
LIVE_KEY = "live_FoyerFakeMollieLiveKey0000000001"
HAL_TYPE = "application/hal+json; charset=utf-8"
CHECKOUT_CHOICES = {"paid": "Payé", "failed": "Échoué", "canceled": "Annulé", "expired": "Expiré"}
LOOPBACK = {"localhost", "::1"}

WebhookSender = Callable[[str, dict[str, str]], int]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer other than 200: Mollie does not follow it


class LoopbackServer(ThreadingHTTPServer):
    """A fake provider's HTTP server: a thread per request, the fake as ``self.fake``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: LoopbackFake, handler: type) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go out at once
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client that gave up (timeout fault): nothing to report
        super().handle_error(request, client_address)


class LoopbackFake:
    """The life cycle of a fake provider on loopback (Mollie, PayFiP): ``start()`` and
    ``stop()``, or ``with``. Subclasses give their request handler and their store."""

    thread_name = "fake-provider"

    def __init__(self, host: str, port: int, public_url: str | None, verbose: bool) -> None:
        self.host, self.port = host, port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.verbose = verbose
        self._stopping = threading.Event()
        self._httpd: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def handler_class(self) -> type:
        raise NotImplementedError

    def start(self) -> Self:
        self._stopping.clear()
        self._httpd = LoopbackServer((self.host, self.port), self, self.handler_class())
        self.port = self._httpd.server_address[1]
        shown_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        self.store.root = self.public_url or f"http://{shown_host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes "timeout" faults and pending notification retries
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeMollie(LoopbackFake):
    """``with FakeMollie() as fake: Client(api_endpoint=fake.base_url)``, after
    ``fake.add_account(TEST_KEY, "Régie cantine – JolieVille")``: the fake knows no account at
    first, every API key a test or the demo uses is added; any other key gets Mollie's 401.

    ``base_url`` is the API endpoint as the client wants it (``http://127.0.0.1:PORT``: the
    client appends ``/v2/…`` itself, and treats links starting with ``{endpoint}/v2`` as
    absolute); ``api_url`` is ``base_url + "/v2"``; ``url`` is the root (same as ``base_url``).

    ``webhook_sender(url, {"id": …}) -> HTTP status`` replaces the HTTP POST (e.g. to route the
    webhook into Django's test client in the caller's thread, with :meth:`set_status`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        webhook_timeout: float = 5.0,
        allow_any_webhook_host: bool = False,
        webhook_sender: WebhookSender | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(host, port, public_url, verbose)
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_timeout = webhook_timeout
        self.allow_any_webhook_host = allow_any_webhook_host
        self.webhook_sender = webhook_sender
        self.store = Store()

    # --- life cycle ----------------------------------------------------------------------

    thread_name = "fake-mollie"

    def handler_class(self) -> type:
        return _Handler

    @property
    def url(self) -> str:
        return self.store.root

    @property
    def base_url(self) -> str:
        return self.store.root

    @property
    def api_url(self) -> str:
        return f"{self.store.root}/v2"

    def add_account(self, key: str, name: str = "") -> dict[str, str]:
        """Make ``key`` a key the fake accepts: an account named ``name`` (a Mollie organisation,
        e.g. "Régie cantine – JolieVille"). Idempotent; a non-empty ``name`` renames it. Raises
        ApiError (422) unless the key looks like a Mollie API key (test_/live_ + 30 characters)."""
        return self.store.add_account(key, name)[0]

    @property
    def accounts(self) -> dict[str, dict[str, str]]:
        """The accounts by API key: key, name, mode (test/live), profileId."""
        return {account["key"]: account for account in self.store.list_accounts()}

    def new_client(self, api_key: str = TEST_KEY, timeout: Any = (2, 10)) -> Any:
        """A real ``mollie.api.client.Client`` pointed at this fake, with a neutral UNAME."""
        from mollie.api.client import Client

        client = Client(api_endpoint=self.base_url, timeout=timeout)
        client.UNAME = "Foyer"  # the default sends the host name and kernel
        client.set_api_key(api_key)
        return client

    # --- state, as the tests see it ------------------------------------------------------

    @property
    def idempotency_ttl(self) -> float:
        return self.store.idempotency_ttl

    @idempotency_ttl.setter
    def idempotency_ttl(self, seconds: float) -> None:
        self.store.idempotency_ttl = seconds

    @property
    def payments(self) -> dict[str, dict[str, Any]]:
        """Every payment, as the API renders it (with embedded refunds and chargebacks)."""
        with self.store.lock:
            return {
                pid: self.store.render_payment(p, ("refunds", "chargebacks"))
                for pid, p in self.store.payments.items()
            }

    def payment(self, payment_id: str) -> dict[str, Any]:
        return self.store.get_payment(None, payment_id, ("refunds", "chargebacks"))

    @property
    def webhook_calls(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [dict(call) for call in self.store.webhook_calls]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every API request: method, path, api_key, idempotency_key, client_info, status."""
        with self.store.lock:
            return [dict(entry) for entry in self.store.requests]

    @property
    def faults(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [fault.as_dict() for fault in self.store.faults]

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        with self.store.lock:
            return {cid: self.store.render_customer(c) for cid, c in self.store.customers.items()}

    @property
    def mandates(self) -> dict[str, dict[str, Any]]:
        """Every mandate (the fake keeps the full IBAN, as the bank does; Foyer never sees it whole)."""
        with self.store.lock:
            return {mid: self.store.render_mandate(m) for mid, m in self.store.mandates.items()}

    def revoke_mandate(self, mandate_id: str) -> dict[str, Any]:
        """The family revokes the mandate at its bank (or Mollie does): it is invalid from now on."""
        with self.store.lock:
            m = self.store.mandates.get(mandate_id)
            if m is None:
                raise ApiError(404, f"No mandate exists with token {mandate_id}.")
            m.status = "invalid"
            return self.store.render_mandate(m)

    def create_payment(self, data: dict[str, Any], api_key: str = TEST_KEY) -> dict[str, Any]:
        """Create a payment without HTTP (e.g. to prepare a reconciliation test), for the
        account of ``api_key`` (ApiError 401 when the fake does not know it)."""
        return self.store.create_payment(api_key, data)

    # --- controls --------------------------------------------------------------------------

    def set_status(self, payment_id: str, status: str, webhook: bool = True) -> dict[str, Any]:
        """Set a payment's status; for paid/authorized/failed/canceled/expired, and unless
        ``webhook`` is false, POST the webhook now (retries included) in this thread."""
        payment = self.store.set_status(payment_id, status)
        hook = self.fire_webhook(payment_id) if webhook and status in WEBHOOK_STATUSES else None
        return {"payment": payment, "webhook": hook}

    def override(self, payment_id: str, **fields: Any) -> dict[str, Any]:
        """Make the API answer these fields as given from now on, whatever the payment's state
        (e.g. ``override(id, amount={"currency": "EUR", "value": "1.00"})`` or ``mode="live"``):
        to test that Foyer checks what Mollie answers against its payment attempt."""
        return self.store.override(payment_id, fields)

    def add_chargeback(
        self, payment_id: str, amount: str | None = None, webhook: bool = True
    ) -> dict[str, Any]:
        """Charge back ``amount`` ("4.00"; default: what remains) of a paid payment; it stays paid."""
        payment = self.store.add_chargeback(payment_id, amount)
        hook = self.fire_webhook(payment_id) if webhook else None
        return {"payment": payment, "webhook": hook}

    def set_refund_status(self, refund_id: str, status: str, webhook: bool = True) -> dict[str, Any]:
        refund = self.store.set_refund_status(refund_id, status)
        hook = self.fire_webhook(refund["paymentId"]) if webhook else None
        return {"refund": refund, "webhook": hook}

    def inject_fault(
        self,
        rule: str,
        *,
        method: str | None = None,
        path: str = "/v2/",
        count: int = 1,
        delay: float = 1.0,
        process: bool = True,
    ) -> dict[str, Any]:
        """For the next ``count`` API requests matching ``method`` (None: any) and ``path`` (prefix):

        - ``"status 500"`` (any status): answer that status as problem JSON, doing nothing;
        - ``"timeout"``: wait ``delay`` seconds first, then handle the request (``process=False``:
          close the connection instead) — the idempotency key stays claimed meanwhile (409);
        - ``"drop_after_create"``: handle the request (the payment is created and its answer
          kept for an idempotent replay), then close the connection without answering."""
        fault = make_fault(rule, method=method, path=path, count=count, delay=delay, process=process)
        return self.store.add_fault(fault)

    def clear_faults(self) -> None:
        with self.store.lock:
            self.store.faults.clear()

    def reset(self) -> None:
        """Forget payments, idempotency keys, faults and logs; pending retries stop. The accounts
        stay: they are set up once, like the keys stored in Foyer, and a test that resets the
        payments between two steps keeps using the same keys."""
        self.store.reset()

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The webhook calls, once there are at least ``count`` of them (AssertionError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.webhook_calls
            if len(calls) >= count:
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook call(s), got {len(calls)}: {calls}")
            time.sleep(0.01)

    # --- webhooks ------------------------------------------------------------------------

    def fire_webhook(self, payment_id: str, background: bool = False) -> dict[str, Any] | None:
        """POST ``id=…`` to the payment's webhook URL, retrying while the answer is not 200.
        Returns a summary (last status, number of attempts), or None without a webhook URL."""
        url = self.store.webhook_url(payment_id)
        if not url:
            return None
        generation = self.store.generation
        if background:
            threading.Thread(target=self._deliver, args=(url, payment_id, generation), daemon=True).start()
            return {"url": url, "status": None, "attempts": 0, "background": True}
        calls = self._deliver(url, payment_id, generation)
        last = calls[-1] if calls else {"status": None, "error": "stopped"}
        return {"url": url, "status": last["status"], "error": last["error"], "attempts": len(calls)}

    def _deliver(self, url: str, payment_id: str, generation: int) -> list[dict[str, Any]]:
        calls = []
        for attempt, delay in enumerate((0.0, *self.webhook_retry_delays), start=1):
            if (delay and self._stopping.wait(delay)) or generation != self.store.generation:
                break
            status, error = self._post_webhook(url, payment_id)
            call = {
                "url": url,
                "payment_id": payment_id,
                "attempt": attempt,
                "status": status,
                "error": error,
                "at": now_iso(),
            }
            self.store.log("webhook_calls", call, generation)
            calls.append(call)
            if status == 200 or (error or "").startswith("skipped"):
                break
        return calls

    def _post_webhook(self, url: str, payment_id: str) -> tuple[int | None, str | None]:
        if self.webhook_sender is not None:
            try:
                return int(self.webhook_sender(url, {"id": payment_id})), None
            except Exception as exc:  # the receiver's failure is an attempt like any other
                return None, repr(exc)
        headers = {"User-Agent": "Mollie.nl webhook"}
        return post_form(
            self._opener, url, {"id": payment_id}, self.allow_any_webhook_host, self.webhook_timeout, headers
        )


def post_form(
    opener: Any,
    url: str,
    data: dict[str, str],
    allow_any_host: bool,
    timeout: float,
    headers: dict | None = None,
) -> tuple[int | None, str | None]:
    """POST a form as a provider's notification does: (HTTP status, error). Only to a loopback
    host unless ``allow_any_host``."""
    host = urlsplit(url).hostname or ""
    loopback = host in LOOPBACK or host.endswith(".localhost") or host.startswith("127.")
    if not (allow_any_host or loopback):
        return None, f"skipped: {host} is not a loopback host"
    request = urllib.request.Request(
        url,
        data=urlencode(data).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc)


def parse_form(raw: str) -> dict[str, Any]:
    """``amount[value]=10.00&amount[currency]=EUR`` → ``{"amount": {"value": …, "currency": …}}``."""
    data: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        *parents, last = re.findall(r"[^\[\]]+", key) or [key]
        node = data
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeMollie/1.0"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's signature)
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # --- plumbing ------------------------------------------------------------------------

    @property
    def fake(self) -> FakeMollie:
        return self.server.fake

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        url = urlsplit(self.path)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path.startswith("/v2/"):
            self._api(method, path, query)
        elif path.startswith("/_fake/"):
            self._control(method, path)
        elif path.startswith("/checkout/"):
            self._checkout(method, path.removeprefix("/checkout/"))
        elif method == "GET" and path == "/":
            self._send(
                200, {"service": "fake-mollie", "api_endpoint": self.fake.base_url}, "application/json"
            )
        elif method == "GET" and path.startswith(("/dashboard/payments/", "/docs")):
            self._info(path)
        else:
            self._send(404, problem(404, f"No route for {method} {path}.", self.fake.url))

    def _body(self) -> dict[str, Any]:
        if not self.raw_body.strip():
            return {}
        if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return parse_form(self.raw_body)
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _send(
        self, status: int, payload: Any, content_type: str = HAL_TYPE, headers: dict | None = None
    ) -> None:
        if isinstance(payload, str):
            body = payload.encode()
        else:
            body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the API -------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        store = self.fake.store
        fault = store.take_fault(method, path)
        idempotency_key = self.headers.get("Idempotency-Key") if method != "GET" else None
        auth = self.headers.get("Authorization", "")
        api_key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if fault and fault.kind == "status":
            detail = "Injected fault: nothing was done."
            status, payload, headers = fault.status, problem(fault.status, detail, store.root), {}
        else:
            status, payload, headers = self._answer(method, path, query, api_key, idempotency_key, fault)
        entry = {
            "method": method,
            "path": self.path,
            "api_key": api_key,
            "idempotency_key": idempotency_key,
            "client_info": self.headers.get("X-Mollie-Client-Info"),
            "user_agent": self.headers.get("User-Agent"),
            "status": status,  # None: no answer was sent
            "fault": fault.kind if fault else None,
        }
        if fault and fault.kind == "drop_after_create":
            entry["status"] = None
        store.log("requests", entry)
        if entry["status"] is None:
            self._drop()
        else:
            self._send(status, payload, headers=headers)

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        api_key: str,
        idempotency_key: str | None,
        fault: Any,
    ) -> tuple[int | None, Any, dict[str, str]]:
        """(status, payload, headers); status None: close the connection without an answer."""
        store, claim = self.fake.store, None
        try:
            store.authenticate(api_key)
            body = self._body()
            if idempotency_key:
                answer = store.idempotency_begin(
                    api_key, idempotency_key, fingerprint(method, self.path, body)
                )
                if answer is not None:
                    status, payload, replayed = answer
                    return status, payload, {"Idempotent-Replayed": "true"} if replayed else {}
                claim = (api_key, idempotency_key)
            if (
                fault
                and fault.kind == "timeout"
                and (self.fake._stopping.wait(fault.delay) or not fault.process)
            ):
                status, payload = None, None
            else:
                status, payload = self._dispatch(method, path, query, api_key, body)
        except ApiError as exc:
            status, payload = exc.status, exc.as_problem(store.root)
        except Exception:
            traceback.print_exc()
            status, payload = 500, problem(500, "The fake Mollie failed (see its log).", store.root)
        if claim:
            store.idempotency_end(*claim, status or 0, payload)
        return status, payload, {}

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], key: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        store = self.fake.store
        embed = tuple(part.strip() for part in query.get("embed", "").split(",") if part.strip())
        match method, path.removeprefix("/v2/").strip("/").split("/"):
            case "POST", ["payments"]:
                return 201, store.create_payment(key, body)
            case "GET", ["payments"]:
                return 200, store.list_payments(key, query)
            case "GET", ["payments", pid]:
                return 200, store.get_payment(key, pid, embed)
            case "PATCH", ["payments", pid]:
                return 200, store.update_payment(key, pid, body)
            case "DELETE", ["payments", pid]:
                payment = store.cancel_payment(key, pid)
                self.fake.fire_webhook(pid, background=True)
                return 200, payment
            case "POST", ["payments", pid, "refunds"]:
                return 201, store.create_refund(key, pid, body)
            case "GET", ["payments", pid, "refunds"]:
                return 200, store.list_refunds(key, pid, query)
            case "GET", ["payments", pid, "refunds", rid]:
                return 200, store.get_refund(key, pid, rid)
            case "DELETE", ["payments", pid, "refunds", rid]:
                store.cancel_refund(key, pid, rid)
                return 204, None
            case "GET", ["payments", pid, "chargebacks"]:
                return 200, store.list_chargebacks(key, pid, query)
            case "GET", ["payments", pid, "chargebacks", cid]:
                return 200, store.get_chargeback(key, pid, cid)
            case "POST", ["customers"]:
                return 201, store.create_customer(key, body)
            case "GET", ["customers"]:
                return 200, store.list_customers(key, query)
            case "GET", ["customers", cid]:
                return 200, store.get_customer(key, cid)
            case "GET", ["customers", cid, "mandates"]:
                return 200, store.list_mandates(key, cid, query)
            case "GET", ["customers", cid, "mandates", mid]:
                return 200, store.get_mandate(key, cid, mid)
            case "DELETE", ["customers", cid, "mandates", mid]:
                store.revoke_mandate(key, cid, mid)
                return 204, None
            case "POST", ["customers", cid, "payments"]:
                return 201, store.create_payment(key, {**body, "customerId": cid})
            case "GET", ["customers", cid, "payments"]:
                return 200, store.payments_of_customer(key, cid, query)
            case _, ["payments", *_] | ["customers", *_]:
                raise ApiError(405, f"The method {method} is not allowed on {path}.")
        raise ApiError(404, f"The fake Mollie does not serve {path}.")

    # --- test controls -------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        fake = self.fake
        try:
            body = self._body() if method == "POST" else {}
            webhook = bool(body.get("webhook", True))
            match method, path.removeprefix("/_fake/").strip("/").split("/"):
                case "POST", ["accounts"]:
                    account, created = fake.store.add_account(body.get("key"), body.get("name") or "")
                    status, payload = 201 if created else 200, {"account": account}
                case "GET", ["accounts"]:
                    status, payload = 200, {"accounts": list(fake.accounts.values())}
                case "GET", ["payments"]:
                    status, payload = 200, {"payments": list(fake.payments.values())}
                case "GET", ["payments", pid]:
                    status, payload = 200, fake.payment(pid)
                case "POST", ["payments", pid, "status"]:
                    status, payload = 200, fake.set_status(pid, str(body.get("status")), webhook=webhook)
                case "POST", ["payments", pid, "override"]:
                    status, payload = 200, fake.override(pid, **body)
                case "POST", ["payments", pid, "chargeback"]:
                    status, payload = 201, fake.add_chargeback(pid, body.get("amount"), webhook=webhook)
                case "GET", ["mandates"]:
                    status, payload = 200, {"mandates": list(fake.mandates.values())}
                case "POST", ["mandates", mid, "revoke"]:
                    status, payload = 200, fake.revoke_mandate(mid)
                case "POST", ["refunds", rid, "status"]:
                    status, payload = (
                        200,
                        fake.set_refund_status(rid, str(body.get("status")), webhook=webhook),
                    )
                case "GET", ["webhooks"]:
                    calls = fake.webhook_calls
                    status, payload = 200, {"count": len(calls), "calls": calls}
                case "GET", ["requests"]:
                    status, payload = 200, {"requests": fake.requests}
                case "POST", ["reset"]:
                    fake.reset()
                    status, payload = 200, {"reset": True}
                case "POST", ["faults"]:
                    options = {
                        k: body[k] for k in ("method", "path", "count", "delay", "process") if k in body
                    }
                    try:
                        status, payload = 201, {"fault": fake.inject_fault(str(body.get("rule")), **options)}
                    except (TypeError, ValueError) as exc:
                        raise ApiError(400, str(exc), "rule") from None
                case "GET", ["faults"]:
                    status, payload = 200, {"faults": fake.faults}
                case "DELETE", ["faults"]:
                    fake.clear_faults()
                    status, payload = 200, {"faults": []}
                case _:
                    raise ApiError(404, f"No control {method} {path}.")
        except ApiError as exc:
            status, payload = exc.status, exc.as_problem(fake.url)
        self._send(status, payload, "application/json")

    # --- pages ---------------------------------------------------------------------------

    def _page(self, status: int, title: str, content: str, headers: dict | None = None) -> None:
        page = (
            '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)} – Mollie factice</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
            "button{font-size:1rem;margin:.25rem;padding:.5rem 1rem}.amount{font-size:2rem}</style>"
            f"</head><body><main><h1>{html.escape(title)}</h1>{content}</main></body></html>"
        )
        self._send(status, page, "text/html; charset=utf-8", headers)

    def _checkout(self, method: str, payment_id: str) -> None:
        try:
            payment = self.fake.payment(payment_id)
        except ApiError:
            self._page(404, "Paiement introuvable", f"<p>Aucun paiement {html.escape(payment_id)}.</p>")
            return
        if method == "POST":
            choice = parse_form(self.raw_body).get("status")
            if choice not in CHECKOUT_CHOICES:
                self._page(400, "Choix invalide", "<p>Choisissez Payé, Échoué, Annulé ou Expiré.</p>")
                return
            payment, changed = self.fake.store.checkout(payment_id, choice)
            if changed:
                self.fake.fire_webhook(payment_id, background=True)
            self._page(303, "Retour", "", {"Location": payment["redirectUrl"]})
            return
        amount = payment["amount"]["value"].replace(".", ",")
        symbol = "€" if payment["amount"]["currency"] == "EUR" else payment["amount"]["currency"]
        intro = (
            f'<p class="amount">{amount} {symbol}</p><p>{html.escape(payment["description"])}</p>'
            f"<p>Référence {payment['id']} (mode {payment['mode']}).</p>"
        )
        if payment["status"] != "open":
            link = html.escape(payment["redirectUrl"])
            content = (
                f'{intro}<p>Ce paiement est déjà traité : {payment["status"]}.</p><a href="{link}">Retour</a>'
            )
        else:
            buttons = "".join(
                f'<button type="submit" name="status" value="{value}">{label}</button>'
                for value, label in CHECKOUT_CHOICES.items()
            )
            content = f'{intro}<form method="post" action="/checkout/{payment["id"]}">{buttons}</form>'
        self._page(200, "Paiement de test", content)

    def _info(self, path: str) -> None:
        if path.startswith("/dashboard/payments/"):
            try:
                payment = self.fake.payment(path.removeprefix("/dashboard/payments/"))
            except ApiError:
                self._page(404, "Paiement introuvable", "")
                return
            dump = html.escape(json.dumps(payment, indent=2, ensure_ascii=False))
            self._page(200, f"Paiement {payment['id']}", f"<pre>{dump}</pre>")
        else:
            self._page(200, "Documentation", "<p>Voir https://docs.mollie.com (ce serveur est un faux).</p>")
