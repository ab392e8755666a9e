"""A fake PayFiP on loopback, faithful to what eopayment's ``payfip_ws`` backend calls.

- ``/tpa/services/securite?wsdl`` and its three XSD files: PayFiP's WSDL (eopayment's copy),
  whose ``soap:address`` names this server;
- ``POST /tpa/services/securite``: the SOAP web service — ``creerPaiementSecurise`` (a new
  ``idOp`` for a known client number), ``recupererDetailPaiementSecurise`` (error P1 for an
  unknown ``idOp``, P5 until the family chooses, then the details) and
  ``recupererDetailClient``; errors are SOAP faults ``FonctionnelleErreur`` as PayFiP sends them;
- ``/tpa/paiementws.web?idop=…``: a French test checkout page with the buttons Payé / Refusé /
  Annulé; a choice posts ``idOp=…`` to the notification URL (in the background, with
  retries) and sends the family back (303) to the return URL;
- ``/_fake/…``: test-only controls (JSON, no authentication): client numbers, results,
  overrides, faults, notifications, reset — mirrored by methods of :class:`FakePayfip`.

Like PayFiP, the fake only knows the client numbers it was given (:meth:`FakePayfip.add_client`,
``--client`` on the command line). Nothing here needs Django. The only outgoing request is the
notification, by default only to a loopback host."""

from __future__ import annotations

import html
import json
import socket
import threading
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from billing.fake_mollie.server import LoopbackFake, LoopbackServer, post_form

from .state import LABELS, SoapFault, Store

DEMO_NUMCLI = "000123"
OTHER_NUMCLI = "000456"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
REAL_ADDRESS = "https://www.payfip.gouv.fr/tpa/services/securite"
SERVICE_PATH = "/tpa/services/securite"
CHECKOUT_PATH = "/tpa/paiementws.web"
OPERATIONS = ("creerPaiementSecurise", "recupererDetailPaiementSecurise", "recupererDetailClient")

NotificationSender = Callable[[str, dict[str, str]], int]


def _resources() -> Path:
    """eopayment's copy of PayFiP's WSDL and schemas."""
    import eopayment.payfip_ws

    return Path(eopayment.payfip_ws.__file__).parent / "resource"


class FakePayfip(LoopbackFake):
    """``with FakePayfip() as fake: settings.PAYFIP_ENDPOINT = fake.base_url`` after
    ``fake.add_client("000123", "Régie – Collectivité Démo")``.

    ``notification_sender(url, {"idOp": …}) -> HTTP status`` replaces the HTTP POST of the
    notification (e.g. to hand it to Django's test client)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        notification_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        notification_timeout: float = 5.0,
        allow_any_notification_host: bool = False,
        notification_sender: NotificationSender | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(host, port, public_url, verbose)
        self.notification_retry_delays = notification_retry_delays
        self.notification_timeout = notification_timeout
        self.allow_any_notification_host = allow_any_notification_host
        self.notification_sender = notification_sender
        self.store = Store()

    # --- life cycle ----------------------------------------------------------------------

    thread_name = "fake-payfip"

    def handler_class(self) -> type:
        return _Handler

    @property
    def base_url(self) -> str:
        """What ``settings.PAYFIP_ENDPOINT`` takes."""
        return self.store.root

    # --- state and controls --------------------------------------------------------------

    def add_client(self, numcli: str, name: str = "") -> dict[str, str]:
        return self.store.add_client(numcli, name)

    @property
    def operations(self) -> dict[str, dict[str, Any]]:
        with self.store.lock:
            return {idop: op.as_dict() for idop, op in self.store.operations.items()}

    def operation(self, idop: str) -> dict[str, Any]:
        return self.store.operation(idop).as_dict()

    @property
    def notifications(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [dict(call) for call in self.store.notifications]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every SOAP call: operation, its fields, the fault injected, the HTTP status."""
        with self.store.lock:
            return [dict(entry) for entry in self.store.requests]

    def set_result(
        self, idop: str, choice: str, *, notify: bool = True, minutes_ago: int = 0
    ) -> dict[str, Any] | None:
        """The family's choice (``paid``, ``refused``, ``canceled``), ``minutes_ago`` minutes
        ago; unless ``notify`` is false, the notification is posted now, in this thread."""
        self.store.set_result(idop, choice, minutes_ago=minutes_ago)
        return self.notify(idop) if notify else None

    def override(self, idop: str, **fields: str) -> dict[str, Any]:
        """Answer these fields as given from now on (e.g. ``montant="100"``): to test that Foyer
        checks PayFiP's word against its payment attempt."""
        return self.store.override(idop, fields)

    def inject_fault(
        self, rule: str, *, operation: str = "", count: int = 1, delay: float = 1.0, process: bool = True
    ) -> dict[str, Any]:
        """For the next ``count`` SOAP calls of ``operation`` (any when empty):

        - ``"status 500"`` (any status): a technical SOAP fault (TechIndisponibiliteErreur), nothing done;
        - ``"timeout"``: wait ``delay`` seconds, then handle the call (``process=False``: close instead);
        - ``"drop_after_create"``: handle the call, then close the connection without answering."""
        return self.store.add_fault(rule, operation=operation, count=count, delay=delay, process=process)

    def reset(self) -> None:
        """Forget operations, faults and logs; the client numbers stay."""
        self.store.reset()

    # --- notifications -------------------------------------------------------------------

    def notify(self, idop: str, background: bool = False) -> dict[str, Any] | None:
        """POST ``idOp=…`` to the operation's notification URL, retrying while not 200."""
        url = self.store.operation(idop).urlnotif
        generation = self.store.generation
        if background:
            threading.Thread(target=self._deliver, args=(url, idop, generation), daemon=True).start()
            return {"url": url, "status": None, "background": True}
        calls = self._deliver(url, idop, generation)
        last = calls[-1] if calls else {"status": None, "error": "stopped"}
        return {"url": url, "status": last["status"], "error": last["error"], "attempts": len(calls)}

    def _deliver(self, url: str, idop: str, generation: int) -> list[dict[str, Any]]:
        calls = []
        for attempt, delay in enumerate((0.0, *self.notification_retry_delays), start=1):
            if (delay and self._stopping.wait(delay)) or generation != self.store.generation:
                break
            status, error = self._post(url, idop)
            call = {"url": url, "idop": idop, "attempt": attempt, "status": status, "error": error}
            self.store.log("notifications", call, generation)
            calls.append(call)
            if status == 200 or (error or "").startswith("skipped"):
                break
        return calls

    def _post(self, url: str, idop: str) -> tuple[int | None, str | None]:
        if self.notification_sender is not None:
            try:
                return int(self.notification_sender(url, {"idOp": idop})), None
            except Exception as exc:
                return None, repr(exc)
        return post_form(
            self._opener, url, {"idOp": idop}, self.allow_any_notification_host, self.notification_timeout
        )


def _envelope(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>{body}</S:Body></S:Envelope>'


def _fields(values: dict[str, str]) -> str:
    return "".join(f"<{name}>{html.escape(value)}</{name}>" for name, value in values.items())


def soap_answer(operation: str, values: dict[str, str]) -> str:
    return _envelope(
        f'<ns2:{operation}Response xmlns:ns2="{SERVICE_NS}"><return>{_fields(values)}</return></ns2:{operation}Response>'
    )


def soap_fault(fault: SoapFault) -> str:
    detail = _fields(
        {"code": fault.code, "descriptif": fault.libelle, "libelle": fault.libelle, "severite": "2"}
    )
    return _envelope(
        "<S:Fault><faultcode>S:Server</faultcode>"
        f"<faultstring>fr.gouv.finances.cp.tpa.webservice.exceptions.{fault.kind}</faultstring>"
        f'<detail><ns2:{fault.kind} xmlns:ns2="{SERVICE_NS}">{detail}</ns2:{fault.kind}></detail></S:Fault>'
    )


def parse_call(raw: bytes) -> tuple[str, dict[str, str]]:
    """A SOAP request → (operation, the fields of its ``arg0``)."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        raise SoapFault("P0", "Requête SOAP illisible.", kind="TechProtocolaireErreur") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    call = body[0] if body is not None and len(body) else None
    if call is None:
        raise SoapFault("P0", "Requête SOAP sans opération.", kind="TechProtocolaireErreur")
    operation = call.tag.rsplit("}", 1)[-1]
    arg0 = call.find("arg0")
    fields = {
        child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in (arg0 if arg0 is not None else [])
    }
    return operation, fields


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePayFiP/1.0"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's signature)
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    @property
    def fake(self) -> FakePayfip:
        return self.server.fake

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if path == SERVICE_PATH and method == "GET" and "wsdl" in url.query.lower():
                wsdl = (_resources() / "PaiementSecuriseService.wsdl").read_text()
                self._send(200, wsdl.replace(REAL_ADDRESS, self.fake.base_url + SERVICE_PATH), "text/xml")
            elif path.startswith("/tpa/services/") and path.endswith(".xsd") and method == "GET":
                name = path.rsplit("/", 1)[-1]
                if not name.startswith("PaiementSecuriseService_schema"):
                    self._send(404, "", "text/plain")
                else:
                    self._send(200, (_resources() / name).read_text(), "text/xml")
            elif path == SERVICE_PATH and method == "POST":
                self._soap()
            elif path == CHECKOUT_PATH:
                self._checkout(method, query)
            elif path.startswith("/_fake/"):
                self._control(method, path)
            elif path == "/" and method == "GET":
                self._send(
                    200,
                    json.dumps({"service": "fake-payfip", "endpoint": self.fake.base_url}),
                    "application/json",
                )
            else:
                self._send(404, "", "text/plain")
        except Exception:
            traceback.print_exc()
            self._send(500, "The fake PayFiP failed (see its log).", "text/plain")

    def _send(self, status: int, body: str, content_type: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the web service -------------------------------------------------------------------

    def _soap(self) -> None:
        store = self.fake.store
        operation, fields = "", {}
        fault = None
        try:
            operation, fields = parse_call(self.raw_body)
            fault = store.take_fault(operation)
            if fault and fault.kind == "status":
                raise SoapFault(
                    "T1", "Service indisponible (faute injectée).", "TechIndisponibiliteErreur", fault.status
                )
            if (
                fault
                and fault.kind == "timeout"
                and (self.fake._stopping.wait(fault.delay) or not fault.process)
            ):
                status, answer = None, ""
            else:
                status, answer = 200, soap_answer(operation, self._dispatch(operation, fields))
        except SoapFault as error:
            status, answer = error.http_status, soap_fault(error)
        if fault and fault.kind == "drop_after_create":
            status = None
        store.log(
            "requests",
            {
                "operation": operation,
                "fields": fields,
                "fault": fault.kind if fault else None,
                "status": status,
            },
        )
        if status is None:
            self._drop()
        else:
            self._send(status, answer, "text/xml")

    def _dispatch(self, operation: str, fields: dict[str, str]) -> dict[str, str]:
        store = self.fake.store
        if operation == "creerPaiementSecurise":
            return {"idOp": store.create(fields)}
        if operation == "recupererDetailPaiementSecurise":
            return store.detail_payment(fields.get("idOp", ""))
        if operation == "recupererDetailClient":
            return store.detail_client(fields.get("numCli", ""))
        raise SoapFault("P0", f"Opération inconnue : {operation}.", kind="TechProtocolaireErreur")

    # --- the checkout page -------------------------------------------------------------------

    def _page(self, status: int, title: str, content: str, headers: dict | None = None) -> None:
        page = (
            '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)} – PayFiP factice</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
            "button{font-size:1rem;margin:.25rem;padding:.5rem 1rem}.amount{font-size:2rem}</style>"
            f"</head><body><main><h1>{html.escape(title)}</h1>{content}</main></body></html>"
        )
        self._send(status, page, "text/html", headers)

    def _checkout(self, method: str, query: dict[str, str]) -> None:
        form = {k: v[-1] for k, v in parse_qs(self.raw_body.decode("utf-8", "replace")).items()}
        idop = form.get("idop") or query.get("idop", "")
        try:
            operation = self.fake.store.operation(idop)
        except KeyError:
            self._page(404, "Paiement introuvable", f"<p>Aucune opération {html.escape(idop)}.</p>")
            return
        if method == "POST":
            choice = form.get("result", "")
            if choice not in LABELS:
                self._page(400, "Choix invalide", "<p>Choisissez Payé, Refusé ou Annulé.</p>")
                return
            if self.fake.store.set_result(idop, choice, only_if_open=True):
                self.fake.notify(idop, background=True)
            self._page(303, "Retour", "", {"Location": operation.urlredirect})
            return
        cents = int(operation.montant)
        intro = (
            f'<p class="amount">{cents // 100},{cents % 100:02d} €</p><p>{html.escape(operation.objet)}</p>'
            f"<p>Référence {html.escape(operation.refdet)}, client {operation.numcli} (saisie {operation.saisie}).</p>"
        )
        if operation.result:
            link = html.escape(operation.urlredirect)
            content = f'{intro}<p>Ce paiement est déjà traité.</p><a href="{link}">Retour</a>'
        else:
            buttons = "".join(
                f'<button type="submit" name="result" value="{value}">{label}</button>'
                for value, label in LABELS.items()
            )
            content = (
                f'{intro}<form method="post" action="{CHECKOUT_PATH}">'
                f'<input type="hidden" name="idop" value="{html.escape(idop)}">{buttons}</form>'
            )
        self._page(200, "Paiement de test PayFiP", content)

    # --- test controls -------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        fake = self.fake
        try:
            body = json.loads(self.raw_body or b"{}") if method == "POST" else {}
            match method, path.removeprefix("/_fake/").strip("/").split("/"):
                case "POST", ["clients"]:
                    status, payload = (
                        201,
                        fake.add_client(str(body.get("numcli")), str(body.get("name") or "")),
                    )
                case "GET", ["operations"]:
                    status, payload = 200, {"operations": list(fake.operations.values())}
                case "POST", ["operations", idop, "result"]:
                    notified = fake.set_result(
                        idop,
                        str(body.get("result")),
                        notify=bool(body.get("notify", True)),
                        minutes_ago=int(body.get("minutes_ago", 0)),
                    )
                    status, payload = 200, {"operation": fake.operation(idop), "notification": notified}
                case "POST", ["operations", idop, "override"]:
                    status, payload = 200, fake.override(idop, **body)
                case "GET", ["notifications"]:
                    status, payload = 200, {"notifications": fake.notifications}
                case "GET", ["requests"]:
                    status, payload = 200, {"requests": fake.requests}
                case "POST", ["faults"]:
                    options = {k: body[k] for k in ("operation", "count", "delay", "process") if k in body}
                    status, payload = 201, {"fault": fake.inject_fault(str(body.get("rule")), **options)}
                case "POST", ["reset"]:
                    fake.reset()
                    status, payload = 200, {"reset": True}
                case _:
                    status, payload = 404, {"detail": f"No control {method} {path}."}
        except KeyError as exc:
            status, payload = 404, {"detail": f"Unknown operation {exc}."}
        except (TypeError, ValueError) as exc:
            status, payload = 400, {"detail": str(exc)}
        self._send(status, json.dumps(payload), "application/json")
