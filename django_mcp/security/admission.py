"""Admission of a new session: who is asking, and may they open another.

Opening a stream needs the credentials checked (the DRF authentication
classes), the user's permission caches loaded, the open-session limit counted
and, for the HTTP+SSE transport, the session's row written. :func:`admit` does
all of it in one database hop and one transaction, so a session open costs one
thread hand-off and one commit rather than one of each per step. A credential
accepted lately is not checked again (:mod:`django_mcp.security.principals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from django.db import transaction

from django_mcp import auth
from django_mcp.security import limits
from django_mcp.security.principals import principals
from django_mcp.security.rejection import Rejection
from django_mcp.transports.hub import fingerprint

if TYPE_CHECKING:
    from django.http import HttpRequest

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Admission(Generic[T]):
    """The outcome of :func:`admit`: ``opened`` is set only when the session may open."""

    result: auth.AuthResult
    rejection: Rejection | None = None
    opened: T | None = None

    @property
    def refusal(self) -> Rejection | None:
        """The answer when the session may not open: ``401`` with the
        authentication classes' challenge, or the limit's ``429``."""
        if not self.result.ok:
            challenge = self.result.www_authenticate or "Bearer"
            return Rejection(401, str(self.result.error), {"WWW-Authenticate": challenge})
        return self.rejection


def admit(
    request: HttpRequest, open_session: Callable[[auth.AuthResult], T] | None = None
) -> Admission[T]:
    """Authenticate ``request``, check ``MAX_SESSIONS_PER_USER`` and, when both
    pass, call ``open_session`` with the result (sync; touches the database).

    Header credentials that the authentication classes accepted lately are not
    checked again (:mod:`~django_mcp.security.principals`). A failed
    authentication comes back as a not-ok ``result`` (a 401), a user at the
    limit as a ``rejection`` (a 429). A :class:`~django.db.DatabaseError`
    propagates, with nothing written.
    """
    header = request.META.get("HTTP_AUTHORIZATION")
    credentials = fingerprint(header) if header else None
    known = principals.get(credentials) if credentials is not None else None
    with transaction.atomic():
        if known is not None:
            result = known
        else:
            result = auth.authenticate(request)
            if not result.ok:
                return Admission(result)
            if credentials is not None and result.credentials:
                principals.remember(credentials, result)
        rejection = limits.check_open_sessions(result.user)
        if rejection is not None:
            return Admission(result, rejection)
        opened = open_session(result) if open_session is not None else None
        return Admission(result, opened=opened)
