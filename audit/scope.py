"""The audit scope: who is acting, for which commune, in which request. Row changes are
recorded only inside a scope, and a scope is opened only around a staff member's writing
request in the console (console.access.staff_required)."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import current_task

from foyer.client_address import client_ip

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass
class AuditScope:
    commune: Any
    actor: Any
    actor_label: str
    role: str
    request_id: str = ""
    ip_address: str | None = None
    # Model labels whose row changes an operation records itself (audit.mute).
    muted: set[str] = field(default_factory=set)
    # Rows as they were before a save, keyed by (model label, pk): filled by pre_save.
    before: dict[tuple[str, Any], dict] = field(default_factory=dict)
    # Entries of objects with child collections (a prestation's sites and price brackets),
    # kept until audit.related_saved() completes them with the collections.
    pending: dict[tuple[str, Any], Any] = field(default_factory=dict)


_current: contextvars.ContextVar[AuditScope | None] = contextvars.ContextVar("audit_scope", default=None)


def actor_label(account) -> str:
    """ "Prénom Nom <email>", copied on every entry."""
    if account is None:
        return ""
    name = f"{account.first_name} {account.last_name}".strip()
    return f"{name} <{account.email}>" if name else f"<{account.email}>"


def current_scope() -> AuditScope | None:
    """The scope of the staff request being served; none inside a Celery task (even one run
    eagerly inside that request): what a task does is the system's, not the staff member's."""
    if current_task:
        return None
    return _current.get()


@contextmanager
def opened(scope: AuditScope) -> Iterator[AuditScope]:
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


@contextmanager
def staff_scope(request) -> Iterator[AuditScope | None]:
    """Around a console view: a scope for a writing request of a member of the commune's staff
    (``request.staff_role`` set by staff_required), none for a reading one."""
    role = getattr(request, "staff_role", None)
    commune = getattr(request, "commune", None)
    if request.method in SAFE_METHODS or role is None or commune is None:
        yield None
        return
    header = request.META.get("HTTP_X_REQUEST_ID", "")
    scope = AuditScope(
        commune=commune,
        actor=request.user,
        actor_label=actor_label(request.user),
        role=role.role,
        request_id=header if _REQUEST_ID.match(header) else uuid.uuid4().hex,
        # The client's address (behind the proxy, from FOYER_TRUSTED_PROXY_HEADER).
        ip_address=client_ip(request),
    )
    with opened(scope):
        yield scope
