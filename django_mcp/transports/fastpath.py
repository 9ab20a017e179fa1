"""The POST fast path: an ASGI front of the DRF messages view.

A client's POSTs carry the same ``Authorization`` header it opened the stream
with. The stream's binding remembers a digest of that header, which DRF's
authentication classes accepted when the stream opened; a POST whose header
matches a live, unexpired binding is handed to the session here, on the event
loop, without Django's request cycle, a thread or a database query.

Every other POST (no header or a cookie session, a different or changed
credential, an unknown session, a body that is not JSON, a method other than
POST) is replayed to Django, where the DRF view authenticates it and gives the
exact answer (401, 400, 404, 405, 413). The fast path can only ever say 202.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.core.handlers.asgi import ASGIHandler

from django_mcp import auth
from django_mcp.conf import mcp_settings
from django_mcp.protocol import jsonrpc
from django_mcp.security import limits, screening
from django_mcp.transports.hub import fingerprint, hub

ACCEPTED = (
    {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]},
    {"type": "http.response.body", "body": b""},
)


class MessagesEndpoint:
    """ASGI app for ``POST <prefix>/messages/``; falls back to the Django app."""

    def __init__(self, fallback: Any = None) -> None:
        self._fallback = fallback

    @property
    def fallback(self) -> Any:
        if self._fallback is None:
            self._fallback = ASGIHandler()
        return self._fallback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Host and Origin are refused here, ahead of Django's middleware.
        rejection = screening.screen_scope(scope)
        if rejection is not None:
            await rejection.send(send)
            return
        credentials = _authorization(scope) if scope["method"] == "POST" else None
        if credentials is None:
            await self.fallback(scope, receive, send)
            return
        read, complete = await _read_body(receive, mcp_settings.MAX_BODY_SIZE)
        body = b"".join(message.get("body", b"") for message in read)
        if complete and await self._accept(scope, credentials, body):
            await send(ACCEPTED[0])
            await send(ACCEPTED[1])
            return
        await self.fallback(scope, _replay(read, receive), send)

    async def _accept(self, scope: dict[str, Any], credentials: bytes, body: bytes) -> bool:
        session_ids = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id")
        if not session_ids:
            return False
        session_id = session_ids[0]
        digest = fingerprint(credentials)
        try:
            payload = jsonrpc.loads(body, mcp_settings.MAX_JSON_DEPTH)
        except jsonrpc.ParseError:
            return False
        # Over the rate limit, the DRF view gives the 429 with its Retry-After.
        if limits.throttle(limits.credential_key(digest), limits.cost(payload)) is not None:
            return False
        outcome = await hub.deliver(session_id, payload, body, credentials=digest)
        if outcome == "unauthenticated":
            # The binding's recheck interval ran out (or other credentials of
            # the same user arrived): authenticate through the same DRF classes
            # here, in a thread that closes its database connection, and renew
            # the binding. Only a failure goes to the DRF view, for its exact 401.
            user_id = await _authenticated_user_id(scope)
            if user_id is None:
                return False
            outcome = await hub.deliver(
                session_id, payload, body, credentials=digest, user_id=user_id
            )
        return outcome == "accepted"


async def _authenticated_user_id(scope: dict[str, Any]) -> Any:
    result = await database_sync_to_async(auth.authenticate)(auth.request_from_scope(scope))
    return result.user.pk if result.ok else None


def _authorization(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value)
    return None


async def _read_body(receive: Any, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Read the request up to ``limit`` body bytes; return the messages read and
    whether they hold the whole body. It is incomplete past the limit or on
    disconnect, and then the DRF view answers (413 for a body too large)."""
    read: list[dict[str, Any]] = []
    size = 0
    while True:
        message = dict(await receive())
        read.append(message)
        if message["type"] == "http.disconnect":
            return read, False
        size += len(message.get("body", b""))
        if size > limit:
            return read, False
        if not message.get("more_body", False):
            return read, True


def _replay(read: list[dict[str, Any]], receive: Any) -> Any:
    """A ``receive`` that yields the messages already read, then the rest of the request.

    Replaying them as they came keeps ``more_body`` and a disconnect truthful: a
    body that crossed the limit in its last chunk has nothing more to read.
    """
    pending = list(read)

    async def replay() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return dict(await receive())

    return replay
