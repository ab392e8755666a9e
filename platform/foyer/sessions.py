"""The session engine: Django's database sessions, with an update in one statement.

Django's ``db`` engine wraps every save in a transaction (a savepoint inside one) so that a
new session can detect a clashing key; an existing session's update needs no such care: one
``UPDATE`` is atomic on its own. The cart's validation (which keeps its confirmation in the
session) saves two round trips this way.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import UpdateError


class SessionStore(db.SessionStore):
    def save(self, must_create: bool = False) -> None:
        if must_create or self.session_key is None:
            return super().save(must_create=must_create)
        updated = self.model.objects.filter(session_key=self.session_key).update(
            session_data=self.encode(self._get_session()), expire_date=self.get_expiry_date()
        )
        if not updated:
            raise UpdateError  # the session was deleted meanwhile (signed out elsewhere)
