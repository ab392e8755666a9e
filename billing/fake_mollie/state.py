"""The fake Mollie's state: the accounts (one API key each), payments, refunds, chargebacks,
idempotency records, faults and the log of webhook calls. One lock guards all of it; every
public method takes it.

Methods return JSON-ready dicts (as the API renders them), never the mutable records."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KEY_RE = re.compile(r"^(live|test)_\w{30,}$", re.ASCII)
VALUE_RE = re.compile(r"^[0-9]+\.[0-9]{2}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
URL_RE = re.compile(r"^https?://\S+$")

PAYMENT_STATUSES = ("open", "pending", "authorized", "paid", "canceled", "expired", "failed")
# Mollie calls the webhook when a payment reaches one of these statuses.
WEBHOOK_STATUSES = frozenset({"paid", "authorized", "failed", "canceled", "expired"})
REFUND_STATUSES = ("queued", "pending", "processing", "refunded", "failed", "canceled")
STAMPS = {
    "paid": "paidAt",
    "authorized": "authorizedAt",
    "canceled": "canceledAt",
    "expired": "expiredAt",
    "failed": "failedAt",
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
HAL = "application/hal+json"
# Mollie's answer, word for word, to a request without a key or with a key it does not know.
UNAUTHORIZED_DETAIL = "Missing authentication, or failed to authenticate"
AUTHENTICATION_DOCS = "https://docs.mollie.com/overview/authentication"


class ApiError(Exception):
    """Answered as problem JSON; ``documentation`` replaces the fake's own errors page."""

    def __init__(
        self, status: int, detail: str, field: str | None = None, documentation: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
        self.documentation = documentation

    def as_problem(self, root: str) -> dict[str, Any]:
        return problem(self.status, self.detail, root, self.field, self.documentation)


def unauthorized() -> ApiError:
    return ApiError(401, UNAUTHORIZED_DETAIL, documentation=AUTHENTICATION_DOCS)


def problem(
    status: int, detail: str, root: str, field: str | None = None, documentation: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "title": TITLES.get(status, "Error"), "detail": detail}
    if field:
        body["field"] = field
    href = documentation or f"{root}/docs/errors"
    body["_links"] = {"documentation": {"href": href, "type": "text/html"}}
    return body


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(10))


def now_iso(later: dt.timedelta = dt.timedelta(0)) -> str:
    return (dt.datetime.now(dt.UTC) + later).replace(microsecond=0).isoformat()


def money(currency: str, value: Decimal) -> dict[str, str]:
    return {"currency": currency, "value": f"{value:.2f}"}


def parse_amount(data: Any, name: str = "amount") -> tuple[str, Decimal]:
    """``{"currency": "EUR", "value": "10.00"}``: the value is a string with exactly two decimals, > 0."""
    if not isinstance(data, dict):
        raise ApiError(422, f"The {name} is required and must be an object with currency and value.", name)
    currency, value = data.get("currency"), data.get("value")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise ApiError(422, "The amount contains an invalid currency.", f"{name}.currency")
    if not isinstance(value, str) or not VALUE_RE.match(value):
        raise ApiError(
            422, "The amount contains an invalid value: a string with two decimals.", f"{name}.value"
        )
    amount = Decimal(value)
    if amount <= 0:
        raise ApiError(422, "The amount is lower than the minimum.", f"{name}.value")
    return currency, amount


def fingerprint(method: str, path: str, body: Any) -> str:
    return f"{method} {path} {json.dumps(body, sort_keys=True, default=str)}"


@dataclass
class Account:
    """A Mollie account as the fake knows it: one API key (a test key and a live key are two
    accounts) and the organisation's name. Its profile id is derived from the key, so the same
    key gives the same profile id from one run to the next."""

    key: str
    name: str = ""

    @property
    def mode(self) -> str:
        return self.key.split("_", 1)[0]

    @property
    def profile_id(self) -> str:
        return "pfl_" + hashlib.sha256(self.key.encode()).hexdigest()[:10]

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "name": self.name, "mode": self.mode, "profileId": self.profile_id}


@dataclass
class Refund:
    id: str
    payment_id: str
    currency: str
    amount: Decimal
    description: str
    metadata: Any
    status: str = "pending"
    created_at: str = field(default_factory=now_iso)

    @property
    def counts(self) -> bool:
        return self.status not in ("failed", "canceled")


@dataclass
class Chargeback:
    id: str
    payment_id: str
    currency: str
    amount: Decimal
    created_at: str = field(default_factory=now_iso)


# The IBAN the fake's checkout "signs" a mandate with (a valid French test IBAN).
FAKE_IBAN = "FR7630006000011234567890189"
SEQUENCE_TYPES = ("oneoff", "first", "recurring")


@dataclass
class Customer:
    id: str
    api_key: str
    seq: int
    name: str
    email: str
    metadata: Any
    created_at: str = field(default_factory=now_iso)


@dataclass
class Mandate:
    id: str
    customer_id: str
    api_key: str
    seq: int
    consumer_name: str
    consumer_account: str = FAKE_IBAN
    status: str = "valid"
    signature_date: str = field(default_factory=lambda: now_iso()[:10])
    created_at: str = field(default_factory=now_iso)


@dataclass
class Payment:
    id: str
    api_key: str
    seq: int
    currency: str
    amount: Decimal
    description: str
    redirect_url: str
    webhook_url: str | None
    metadata: Any
    method: Any
    extra: dict[str, Any]
    status: str = "open"
    created_at: str = field(default_factory=now_iso)
    expires_at: str = field(default_factory=lambda: now_iso(dt.timedelta(minutes=15)))
    stamps: dict[str, str] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)
    chargebacks: list[Chargeback] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # rendered as is: tests of a tampered answer
    sequence_type: str = "oneoff"
    customer_id: str | None = None
    mandate_id: str | None = None

    @property
    def mode(self) -> str:
        return self.api_key.split("_", 1)[0]

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds if r.counts), Decimal("0"))

    @property
    def charged_back(self) -> Decimal:
        return sum((c.amount for c in self.chargebacks), Decimal("0"))

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.refunded - self.charged_back


@dataclass
class IdempotencyRecord:
    fingerprint: str
    processing: bool = True
    at: float = field(default_factory=time.monotonic)
    status: int = 0
    body: Any = None


@dataclass
class Fault:
    """Applies to the next ``count`` API requests whose method and path prefix match."""

    kind: str  # "status" | "timeout" | "drop_after_create"
    path: str = "/v2/"
    method: str | None = None
    count: int = 1
    status: int = 500
    delay: float = 1.0
    process: bool = True  # timeout: handle the request after the delay (the answer is lost)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_fault(rule: str, **options: Any) -> Fault:
    """``rule``: "status 500" (any status), "timeout" or "drop_after_create"."""
    words = str(rule).split()
    options["method"] = (options.get("method") or "").upper() or None
    if words and words[0] == "status":
        status = int(words[1]) if len(words) > 1 else int(options.pop("status", 500))
        options.pop("status", None)
        return Fault(kind="status", status=status, **options)
    if words in (["timeout"], ["drop_after_create"]):
        return Fault(kind=words[0], **options)
    raise ValueError(f"unknown fault rule {rule!r}: use 'status 500', 'timeout' or 'drop_after_create'")


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.root = ""  # set once the server is bound: every link is built on it
        self.idempotency_ttl = 3600.0
        self.generation = 0  # bumped by reset(): pending webhook retries stop
        self.accounts: dict[str, Account] = {}  # by API key; reset() keeps them
        self._clear()

    def _clear(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.customers: dict[str, Customer] = {}
        self.mandates: dict[str, Mandate] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.faults: list[Fault] = []
        self.webhook_calls: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._seq = 0

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.generation += 1

    # --- accounts ------------------------------------------------------------------------

    def add_account(self, key: Any, name: Any = "") -> tuple[dict[str, str], bool]:
        """Register the account of ``key`` (idempotent): (the account, whether it is new).
        A non-empty ``name`` renames an account that exists; an empty one keeps its name."""
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ApiError(
                422, "The key must be test_ or live_ followed by at least 30 letters or digits.", "key"
            )
        if not isinstance(name, str) or len(name) > 255:
            raise ApiError(422, "The name must be a string of at most 255 characters.", "name")
        with self.lock:
            account = self.accounts.get(key)
            created = account is None
            if account is None:
                account = self.accounts[key] = Account(key, name)
            elif name:
                account.name = name
            return account.as_dict(), created

    def list_accounts(self) -> list[dict[str, str]]:
        with self.lock:
            return [account.as_dict() for account in self.accounts.values()]

    def authenticate(self, api_key: str) -> Account:
        """The account of ``api_key``, or Mollie's 401 (no key, a malformed or an unknown one)."""
        with self.lock:
            account = self.accounts.get(api_key)
            if account is None:
                raise unauthorized()
            return account

    # --- rendering -----------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"{self.root}/v2"

    def _link(self, href: str, kind: str = HAL) -> dict[str, str]:
        return {"href": href, "type": kind}

    def render_payment(self, p: Payment, embed: tuple[str, ...] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {
            "resource": "payment",
            "id": p.id,
            "mode": p.mode,
            "createdAt": p.created_at,
            "status": p.status,
            "isCancelable": p.status == "open",
            "expiresAt": p.expires_at,
            "amount": money(p.currency, p.amount),
            "amountRefunded": money(p.currency, p.refunded),
            "amountRemaining": money(p.currency, p.remaining),
            "description": p.description,
            "method": p.method,
            "metadata": p.metadata,
            "profileId": self.accounts[p.api_key].profile_id,
            "sequenceType": p.sequence_type,
            "redirectUrl": p.redirect_url,
            "webhookUrl": p.webhook_url,
            **p.extra,
            **p.stamps,
        }
        if p.customer_id:
            body["customerId"] = p.customer_id
        if p.mandate_id:
            body["mandateId"] = p.mandate_id
        if p.chargebacks:
            body["amountChargedBack"] = money(p.currency, p.charged_back)
        body.update(p.overrides)
        links = {"self": self._link(f"{self.api}/payments/{p.id}")}
        if p.status == "open":
            links["checkout"] = self._link(f"{self.root}/checkout/{p.id}", "text/html")
        links["dashboard"] = self._link(f"{self.root}/dashboard/payments/{p.id}", "text/html")
        if p.refunds:
            links["refunds"] = self._link(f"{self.api}/payments/{p.id}/refunds")
        if p.chargebacks:
            links["chargebacks"] = self._link(f"{self.api}/payments/{p.id}/chargebacks")
        links["documentation"] = self._link(f"{self.root}/docs/reference/get-payment", "text/html")
        body["_links"] = links
        embedded = {}
        if "refunds" in embed:
            embedded["refunds"] = [self.render_refund(r, p) for r in p.refunds]
        if "chargebacks" in embed:
            embedded["chargebacks"] = [self.render_chargeback(c) for c in p.chargebacks]
        if embedded:
            body["_embedded"] = embedded
        return body

    def render_refund(self, r: Refund, p: Payment | None = None) -> dict[str, Any]:
        p = p or self.payments[r.payment_id]
        return {
            "resource": "refund",
            "id": r.id,
            "mode": p.mode,
            "amount": money(r.currency, r.amount),
            "settlementAmount": money(r.currency, -r.amount),
            "status": r.status,
            "createdAt": r.created_at,
            "description": r.description,
            "metadata": r.metadata,
            "paymentId": r.payment_id,
            "_links": {
                "self": self._link(f"{self.api}/payments/{r.payment_id}/refunds/{r.id}"),
                "payment": self._link(f"{self.api}/payments/{r.payment_id}"),
                "documentation": self._link(f"{self.root}/docs/reference/get-refund", "text/html"),
            },
        }

    def render_chargeback(self, c: Chargeback) -> dict[str, Any]:
        return {
            "resource": "chargeback",
            "id": c.id,
            "amount": money(c.currency, c.amount),
            "settlementAmount": money(c.currency, -c.amount),
            "createdAt": c.created_at,
            "reason": None,
            "reversedAt": None,
            "paymentId": c.payment_id,
            "_links": {
                "self": self._link(f"{self.api}/payments/{c.payment_id}/chargebacks/{c.id}"),
                "payment": self._link(f"{self.api}/payments/{c.payment_id}"),
                "documentation": self._link(f"{self.root}/docs/reference/get-chargeback", "text/html"),
            },
        }

    def _page(self, name: str, items: list, url: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of ``items`` (newest first): ``from`` is the id of the page's first item."""
        raw_limit = query.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ApiError(400, f"The limit must be between 1 and {MAX_LIMIT}.", "limit")
        limit = int(raw_limit)
        ids = [item.id for item in items]
        start = 0
        if query.get("from"):
            if query["from"] not in ids:
                raise ApiError(400, f"Invalid 'from' parameter: {query['from']}.", "from")
            start = ids.index(query["from"])
        page = items[start : start + limit]

        def href(first: int) -> dict[str, str]:
            return self._link(f"{url}?from={ids[first]}&limit={limit}")

        return {
            "count": len(page),
            "_embedded": {name: [self._render_any(item) for item in page]},
            "_links": {
                "self": self._link(
                    f"{url}?from={ids[start]}&limit={limit}" if page else f"{url}?limit={limit}"
                ),
                "previous": href(max(0, start - limit)) if start > 0 else None,
                "next": href(start + limit) if start + limit < len(items) else None,
                "documentation": self._link(f"{self.root}/docs/reference/list-{name}", "text/html"),
            },
        }

    def render_customer(self, c: Customer) -> dict[str, Any]:
        return {
            "resource": "customer",
            "id": c.id,
            "mode": c.api_key.split("_", 1)[0],
            "name": c.name,
            "email": c.email,
            "locale": None,
            "metadata": c.metadata,
            "createdAt": c.created_at,
            "_links": {
                "self": self._link(f"{self.api}/customers/{c.id}"),
                "mandates": self._link(f"{self.api}/customers/{c.id}/mandates"),
                "payments": self._link(f"{self.api}/customers/{c.id}/payments"),
                "documentation": self._link(f"{self.root}/docs/reference/get-customer", "text/html"),
            },
        }

    def render_mandate(self, m: Mandate) -> dict[str, Any]:
        return {
            "resource": "mandate",
            "id": m.id,
            "mode": m.api_key.split("_", 1)[0],
            "status": m.status,
            "method": "directdebit",
            "details": {
                "consumerName": m.consumer_name,
                "consumerAccount": m.consumer_account,
                "consumerBic": "BDFEFRPPXXX",
            },
            "mandateReference": None,
            "signatureDate": m.signature_date,
            "createdAt": m.created_at,
            "_links": {
                "self": self._link(f"{self.api}/customers/{m.customer_id}/mandates/{m.id}"),
                "customer": self._link(f"{self.api}/customers/{m.customer_id}"),
                "documentation": self._link(f"{self.root}/docs/reference/get-mandate", "text/html"),
            },
        }

    def _render_any(self, item: Any) -> dict[str, Any]:
        if isinstance(item, Customer):
            return self.render_customer(item)
        if isinstance(item, Mandate):
            return self.render_mandate(item)
        if isinstance(item, Payment):
            return self.render_payment(item)
        if isinstance(item, Refund):
            return self.render_refund(item)
        return self.render_chargeback(item)

    # --- the API (scoped to the API key: another account's payment is "not found") --------

    def _payment(self, api_key: str | None, payment_id: str) -> Payment:
        p = self.payments.get(payment_id)
        if p is None or (api_key is not None and p.api_key != api_key):
            raise ApiError(404, f"No payment exists with token {payment_id}.")
        return p

    # --- customers and mandates ----------------------------------------------------------

    def _customer(self, api_key: str | None, customer_id: Any) -> Customer:
        c = self.customers.get(customer_id) if isinstance(customer_id, str) else None
        if c is None or (api_key is not None and c.api_key != api_key):
            raise ApiError(404, f"No customer exists with token {customer_id}.")
        return c

    def _mandate(self, api_key: str | None, customer_id: str, mandate_id: str) -> Mandate:
        c = self._customer(api_key, customer_id)
        m = self.mandates.get(mandate_id)
        if m is None or m.customer_id != c.id:
            raise ApiError(404, f"No mandate exists with token {mandate_id}.")
        return m

    def create_customer(self, api_key: str, data: dict[str, Any]) -> dict[str, Any]:
        self.authenticate(api_key)
        name, email = data.get("name") or "", data.get("email") or ""
        if not isinstance(name, str) or len(name) > 255:
            raise ApiError(422, "The name is invalid.", "name")
        if not isinstance(email, str) or (email and "@" not in email):
            raise ApiError(422, "The email address is invalid.", "email")
        with self.lock:
            self._seq += 1
            c = Customer(new_id("cst_"), api_key, self._seq, name, email, data.get("metadata"))
            self.customers[c.id] = c
            return self.render_customer(c)

    def get_customer(self, api_key: str, customer_id: str) -> dict[str, Any]:
        with self.lock:
            return self.render_customer(self._customer(api_key, customer_id))

    def list_customers(self, api_key: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            mine = sorted((c for c in self.customers.values() if c.api_key == api_key), key=lambda c: -c.seq)
            return self._page("customers", mine, f"{self.api}/customers", query)

    def list_mandates(self, api_key: str, customer_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            c = self._customer(api_key, customer_id)
            mine = sorted((m for m in self.mandates.values() if m.customer_id == c.id), key=lambda m: -m.seq)
            return self._page("mandates", mine, f"{self.api}/customers/{c.id}/mandates", query)

    def get_mandate(self, api_key: str | None, customer_id: str, mandate_id: str) -> dict[str, Any]:
        with self.lock:
            return self.render_mandate(self._mandate(api_key, customer_id, mandate_id))

    def revoke_mandate(self, api_key: str | None, customer_id: str, mandate_id: str) -> None:
        """Mollie's DELETE: the mandate can no longer be used (410 when it is already revoked)."""
        with self.lock:
            m = self._mandate(api_key, customer_id, mandate_id)
            if m.status == "invalid":
                raise ApiError(410, f"The mandate {mandate_id} is already revoked.")
            m.status = "invalid"

    def payments_of_customer(self, api_key: str, customer_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            c = self._customer(api_key, customer_id)
            mine = sorted((p for p in self.payments.values() if p.customer_id == c.id), key=lambda p: -p.seq)
            return self._page("payments", mine, f"{self.api}/customers/{c.id}/payments", query)

    def _sign_mandate(self, p: Payment) -> None:
        """A first payment paid: the customer's mandate is signed with the account it paid from."""
        if p.sequence_type != "first" or p.mandate_id or not p.customer_id:
            return
        self._seq += 1
        customer = self.customers[p.customer_id]
        m = Mandate(new_id("mdt_"), customer.id, p.api_key, self._seq, customer.name or "Titulaire de test")
        self.mandates[m.id] = m
        p.mandate_id = m.id

    def _sequence(self, api_key: str, data: dict[str, Any]) -> tuple[str, str | None, str | None]:
        """(sequenceType, customerId, mandateId): a recurring payment needs a valid mandate of
        the customer, as on Mollie."""
        sequence = data.get("sequenceType") or "oneoff"
        if sequence not in SEQUENCE_TYPES:
            raise ApiError(422, "The sequence type is invalid.", "sequenceType")
        customer_id = data.get("customerId") or None
        if customer_id is not None:
            self._customer(api_key, customer_id)
        elif sequence != "oneoff":
            raise ApiError(422, "A customer is required for a first or recurring payment.", "customerId")
        mandate_id = data.get("mandateId") or None
        if sequence == "recurring":
            valid = [
                m
                for m in self.mandates.values()
                if m.customer_id == customer_id and m.status == "valid" and mandate_id in (None, m.id)
            ]
            if not valid:
                raise ApiError(422, "The customer does not have a valid mandate.", "mandateId")
            mandate_id = valid[0].id
        elif mandate_id is not None:
            raise ApiError(422, "A mandate is only given for a recurring payment.", "mandateId")
        return sequence, customer_id, mandate_id

    def create_payment(self, api_key: str, data: dict[str, Any]) -> dict[str, Any]:
        self.authenticate(api_key)
        currency, amount = parse_amount(data.get("amount"))
        description = data.get("description")
        if not isinstance(description, str) or not description.strip() or len(description) > 255:
            raise ApiError(422, "The description is required (at most 255 characters).", "description")
        with self.lock:
            sequence, customer_id, mandate_id = self._sequence(api_key, data)
        redirect_url = data.get("redirectUrl")
        if sequence == "recurring" and redirect_url is None:
            redirect_url = ""
        elif not isinstance(redirect_url, str) or not URL_RE.match(redirect_url):
            raise ApiError(422, "The redirect URL is required and must be a valid URL.", "redirectUrl")
        webhook_url = data.get("webhookUrl") or None
        if webhook_url is not None and (not isinstance(webhook_url, str) or not URL_RE.match(webhook_url)):
            raise ApiError(422, "The webhook URL is invalid.", "webhookUrl")
        extra = {k: data[k] for k in ("locale", "cancelUrl") if data.get(k) is not None}
        with self.lock:
            self._seq += 1
            p = Payment(
                id=new_id("tr_"),
                api_key=api_key,
                seq=self._seq,
                currency=currency,
                amount=amount,
                description=description,
                redirect_url=redirect_url,
                webhook_url=webhook_url,
                metadata=data.get("metadata"),
                method="directdebit" if sequence == "recurring" else data.get("method"),
                extra=extra,
                sequence_type=sequence,
                customer_id=customer_id,
                mandate_id=mandate_id,
            )
            if sequence == "recurring":
                p.status = "pending"  # a SEPA debit takes days: it starts pending
            self.payments[p.id] = p
            return self.render_payment(p)

    def get_payment(
        self, api_key: str | None, payment_id: str, embed: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        with self.lock:
            return self.render_payment(self._payment(api_key, payment_id), embed)

    def list_payments(self, api_key: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            mine = sorted((p for p in self.payments.values() if p.api_key == api_key), key=lambda p: -p.seq)
            return self._page("payments", mine, f"{self.api}/payments", query)

    def update_payment(self, api_key: str, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            if p.status != "open":
                raise ApiError(422, f"The payment cannot be updated: its status is {p.status}.")
            for key, attr in (("description", "description"), ("redirectUrl", "redirect_url")):
                if key in data:
                    if not isinstance(data[key], str) or not data[key]:
                        raise ApiError(422, f"The {key} is invalid.", key)
                    setattr(p, attr, data[key])
            if "webhookUrl" in data:
                p.webhook_url = data["webhookUrl"] or None
            if "metadata" in data:
                p.metadata = data["metadata"]
            p.extra.update({k: data[k] for k in ("locale", "cancelUrl") if k in data})
            return self.render_payment(p)

    def cancel_payment(self, api_key: str, payment_id: str) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            if p.status != "open":
                raise ApiError(422, f"The payment cannot be canceled: its status is {p.status}.")
            self._move(p, "canceled")
            return self.render_payment(p)

    def create_refund(self, api_key: str, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            if p.status != "paid":
                raise ApiError(422, f"The payment is not refundable: its status is {p.status}.")
            currency, amount = parse_amount(data.get("amount"))
            if currency != p.currency:
                raise ApiError(422, "The refund currency differs from the payment's.", "amount.currency")
            if amount > p.remaining:
                raise ApiError(
                    422,
                    f"The amount exceeds what remains to be refunded ({p.remaining:.2f} {p.currency}).",
                    "amount.value",
                )
            description = data.get("description") or ""
            if not isinstance(description, str) or len(description) > 255:
                raise ApiError(422, "The description is invalid.", "description")
            r = Refund(new_id("re_"), p.id, currency, amount, description, data.get("metadata"))
            p.refunds.append(r)
            self.refunds[r.id] = r
            return self.render_refund(r, p)

    def _refund(self, api_key: str, payment_id: str, refund_id: str) -> Refund:
        p = self._payment(api_key, payment_id)
        r = self.refunds.get(refund_id)
        if r is None or r.payment_id != p.id:
            raise ApiError(404, f"No refund exists with token {refund_id}.")
        return r

    def list_refunds(self, api_key: str, payment_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            return self._page("refunds", p.refunds[::-1], f"{self.api}/payments/{p.id}/refunds", query)

    def get_refund(self, api_key: str, payment_id: str, refund_id: str) -> dict[str, Any]:
        with self.lock:
            return self.render_refund(self._refund(api_key, payment_id, refund_id))

    def cancel_refund(self, api_key: str, payment_id: str, refund_id: str) -> None:
        with self.lock:
            r = self._refund(api_key, payment_id, refund_id)
            if r.status not in ("queued", "pending"):
                raise ApiError(422, f"The refund cannot be canceled: its status is {r.status}.")
            r.status = "canceled"

    def list_chargebacks(self, api_key: str, payment_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            return self._page(
                "chargebacks", p.chargebacks[::-1], f"{self.api}/payments/{p.id}/chargebacks", query
            )

    def get_chargeback(self, api_key: str, payment_id: str, chargeback_id: str) -> dict[str, Any]:
        with self.lock:
            p = self._payment(api_key, payment_id)
            for c in p.chargebacks:
                if c.id == chargeback_id:
                    return self.render_chargeback(c)
            raise ApiError(404, f"No chargeback exists with token {chargeback_id}.")

    # --- test controls (no API key) ------------------------------------------------------

    def _move(self, p: Payment, status: str) -> None:
        p.status = status
        for stamp in ("paidAt", "canceledAt", "expiredAt", "failedAt"):
            p.stamps.pop(stamp, None)
        if status in STAMPS:
            p.stamps[STAMPS[status]] = now_iso()
        if status == "paid":
            self._sign_mandate(p)

    def set_status(self, payment_id: str, status: str) -> dict[str, Any]:
        if status not in PAYMENT_STATUSES:
            raise ApiError(422, f"Unknown payment status {status!r}.", "status")
        with self.lock:
            p = self._payment(None, payment_id)
            self._move(p, status)
            return self.render_payment(p)

    def checkout(self, payment_id: str, status: str) -> tuple[dict[str, Any], bool]:
        """The customer's choice on the checkout page: applied only while the payment is open."""
        with self.lock:
            p = self._payment(None, payment_id)
            changed = p.status == "open"
            if changed:
                self._move(p, status)
            return self.render_payment(p), changed

    def override(self, payment_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            p = self._payment(None, payment_id)
            p.overrides.update(fields)
            return self.render_payment(p)

    def add_chargeback(self, payment_id: str, amount: str | None = None) -> dict[str, Any]:
        with self.lock:
            p = self._payment(None, payment_id)
            if p.status != "paid":
                raise ApiError(422, f"Only a paid payment can be charged back (status {p.status}).")
            value = amount if amount is not None else f"{p.remaining:.2f}"
            currency, value_dec = parse_amount({"currency": p.currency, "value": value})
            if value_dec > p.remaining:
                raise ApiError(422, "The chargeback exceeds what remains of the payment.", "amount.value")
            p.chargebacks.append(Chargeback(new_id("chb_"), p.id, currency, value_dec))
            return self.render_payment(p, ("chargebacks",))

    def set_refund_status(self, refund_id: str, status: str) -> dict[str, Any]:
        if status not in REFUND_STATUSES:
            raise ApiError(422, f"Unknown refund status {status!r}.", "status")
        with self.lock:
            r = self.refunds.get(refund_id)
            if r is None:
                raise ApiError(404, f"No refund exists with token {refund_id}.")
            r.status = status
            return self.render_refund(r)

    def webhook_url(self, payment_id: str) -> str | None:
        with self.lock:
            return self._payment(None, payment_id).webhook_url

    def payment_of_refund(self, refund_id: str) -> str:
        with self.lock:
            return self.refunds[refund_id].payment_id

    # --- idempotency ---------------------------------------------------------------------

    def idempotency_begin(self, api_key: str, key: str, print_: str) -> tuple[int, Any, bool] | None:
        """Claim the key (None), or say what to answer: (status, body, replayed)."""
        with self.lock:
            record = self.idempotency.get((api_key, key))
            if record and not record.processing and time.monotonic() - record.at > self.idempotency_ttl:
                record = None
            if record is None:
                self.idempotency[(api_key, key)] = IdempotencyRecord(print_)
                return None
            if record.processing:
                detail = "A request with this idempotency key is still being processed."
                return 409, problem(409, detail, self.root), False
            if record.fingerprint != print_:
                detail = "The idempotency key was already used for another request."
                return 400, problem(400, detail, self.root), False
            return record.status, record.body, True

    def idempotency_end(self, api_key: str, key: str, status: int, body: Any) -> None:
        """Keep a successful answer for replay; release the key otherwise."""
        with self.lock:
            if 200 <= status < 300:
                self.idempotency[(api_key, key)] = IdempotencyRecord(
                    self.idempotency[(api_key, key)].fingerprint, False, time.monotonic(), status, body
                )
            else:
                self.idempotency.pop((api_key, key), None)

    # --- faults and logs -----------------------------------------------------------------

    def add_fault(self, fault: Fault) -> dict[str, Any]:
        with self.lock:
            self.faults.append(fault)
            return fault.as_dict()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path) and fault.method in (None, method):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def log(self, kind: str, entry: dict[str, Any], generation: int | None = None) -> None:
        with self.lock:
            if generation is None or generation == self.generation:
                getattr(self, kind).append(entry)
