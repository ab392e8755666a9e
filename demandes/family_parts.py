"""What requests (demandes) contribute to the family's unified views (assembled by
family.router): the SQL of one commune's part — ``{s}`` is the commune's quoted schema, the first
column its name — and how to read its rows: the family's requests with the commune's messages
("Historique des demandes"), and the categories each commune offers ("Faire une demande")."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from shared_identity.models import Child
from tenants.models import Commune

from .models import Request

# Parameters after the schema name: family ids. Ordered by the router: newest activity first.
REQUESTS_PART = """
SELECT %s::text, r.id, r.title, c.code, r.status, r.child_id, r.created_at, r.updated_at,
  (SELECT coalesce(json_agg(json_build_object('at', e.created_at, 'kind', e.kind,
        'to_status', e.to_status, 'message', e.message) ORDER BY e.created_at, e.id), '[]')
     FROM {s}.demandes_requestevent e
     WHERE e.request_id = r.id AND e.side = 'commune' AND e.kind IN ('status', 'message')
       AND e.message <> ''),
  (SELECT count(*) FROM {s}.demandes_requestattachment a WHERE a.request_id = r.id),
  (SELECT e.kind FROM {s}.demandes_requestevent e
     WHERE e.request_id = r.id AND e.kind IN ('created', 'status', 'message', 'reply')
     ORDER BY e.created_at DESC, e.id DESC LIMIT 1)
FROM {s}.demandes_request r JOIN {s}.demandes_requestcategory c ON c.id = r.category_id
WHERE r.family_id = ANY(%s)
"""


@dataclass
class FamilyRequest:
    """One line of "Historique des demandes"."""

    commune: Commune
    id: int
    title: str
    category_code: str
    status: str
    child_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    messages: list[dict] = field(default_factory=list)  # the commune's messages, oldest first
    attachment_count: int = 0
    last_kind: str = ""  # the last event the family sees: created, status, message or reply
    child: Child | None = None  # filled in by the page, from the family scope

    @property
    def awaiting_reply(self) -> bool:
        """Open, and the commune wrote last: the family is expected to answer."""
        return self.is_open and self.last_kind == "message"

    @property
    def status_label(self) -> str:
        return Request.Status(self.status).label

    @property
    def is_open(self) -> bool:
        return self.status in Request.OPEN

    @property
    def last_message(self) -> dict | None:
        return self.messages[-1] if self.messages else None


def _datetime(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def family_request(commune: Commune, row: tuple) -> FamilyRequest:
    """One row of REQUESTS_PART (without its schema name), read."""
    pk, title, code, status, child_id, created, updated, messages, count, last_kind = row
    messages = messages if isinstance(messages, list) else json.loads(messages)
    for message in messages:
        message["at"] = _datetime(message["at"])
        message["status_label"] = Request.Status(message["to_status"]).label if message["to_status"] else ""
    return FamilyRequest(
        commune, pk, title, code, status, child_id, created, updated, messages, count, last_kind or ""
    )


# No parameter after the schema name: the categories a family may choose (system ones aside).
CATEGORIES_PART = """
SELECT %s::text, c.code, c.title, c.description
FROM {s}.demandes_requestcategory c
WHERE c.is_active AND NOT c.is_system
"""


@dataclass
class CommuneCategories:
    commune: Commune
    categories: list[dict]
