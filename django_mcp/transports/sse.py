"""The HTTP+SSE stream (MCP 2024-11-05): ``GET <prefix>/sse``.

The consumer holds the stream of one session. It authenticates the GET, binds
the session to that principal in the process-local hub, announces the endpoint
for POSTs, then writes whatever the session sends until the client disconnects
or the hub terminates the stream. POSTs reach the session through the hub
(directly, or from another worker over the channel layer); heartbeats come from
one ticker per process rather than one task per stream.

It is built on ``AsyncConsumer`` because ``AsyncHttpConsumer`` finishes as soon
as ``handle()`` returns, and it overrides ``dispatch`` to skip the thread hop
Channels makes before each message to close stale database connections: the
stream itself never touches the database between open and close.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.consumer import AsyncConsumer, get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.utils import await_many_dispatch
from django.db import DatabaseError
from django.urls import reverse

from django_mcp import auth, store
from django_mcp.models import McpSession
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.session import ServerSession
from django_mcp.security import screening
from django_mcp.security.admission import admit
from django_mcp.security.scopes import scopes_for
from django_mcp.transports.events import HEARTBEAT, SSE_HEADERS, event, message_event
from django_mcp.transports.hub import WORKER_ID, fingerprint, hub, new_binding, worker_channel

logger = logging.getLogger("django_mcp")


def json_response_parts(
    status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = json.dumps(body).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
    }
    return start, {"type": "http.response.body", "body": payload}


class SseConsumer(AsyncConsumer):  # type: ignore[misc]
    """Serves ``GET <prefix>/sse`` and acts for the session it opens."""

    handlers: Handlers | None = None
    transport = McpSession.Transport.SSE

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self.session: ServerSession | None = None
        self._closing = False
        self._control: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        if not await self._read_request(receive):
            return
        if scope["method"] != "GET":
            await self._reply(
                405,
                {"error": "Method not allowed: open the stream with GET."},
                [(b"allow", b"GET")],
            )
            return
        # Host and Origin before anything else; credentials never from the query.
        rejection = screening.screen_scope(scope)
        if rejection is not None:
            await rejection.send(self.base_send)
            return
        request = auth.request_from_scope(screening.without_query_credentials(scope))
        try:
            admission = await database_sync_to_async(admit)(request, self._open_session)
        except DatabaseError:
            # No stream was promised yet: say "later", not 500.
            logger.exception("Database unavailable while opening an MCP stream")
            await self._reply(
                503,
                {"error": "Service temporarily unavailable; retry shortly."},
                [(b"retry-after", b"1")],
            )
            return
        refusal = admission.refusal
        if refusal is not None:
            await refusal.send(self.base_send)
            return
        assert admission.opened is not None
        await self._serve(admission.opened, admission.result, receive)

    async def _read_request(self, receive: Any) -> bool:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            if not message.get("more_body", False):
                return True

    async def _reply(
        self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
    ) -> None:
        start, content = json_response_parts(status, body, headers)
        await self.base_send(start)
        await self.base_send(content)

    def _open_session(self, result: auth.AuthResult) -> ServerSession:
        """Create the session and write its row (sync: runs inside :func:`admit`)."""
        session = self._new_session(result)
        store.record_open(session, self.scope, result.token, worker_channel(WORKER_ID))
        return session

    def _new_session(self, result: auth.AuthResult) -> ServerSession:
        session = ServerSession(
            session_id=hub.new_session_id(),
            user=result.user,
            send=self.send_message,
            handlers=self.handlers or default_handlers(),
            transport=self.transport,
            token_id=getattr(result.token, "pk", None),
            scopes=scopes_for(result.token),
        )
        session.on_initialize = database_sync_to_async(store.record_initialize)
        self.session = session
        return session

    async def _serve(self, session: ServerSession, result: auth.AuthResult, receive: Any) -> None:
        credentials = fingerprint(result.credentials) if result.credentials else None
        hub.register(session, self, new_binding(result.user.pk, result.token, credentials))
        store.pulse.start()
        reason: str = McpSession.CloseReason.CLIENT_DISCONNECT
        try:
            await hub.reachable()
            await self.base_send(
                {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
            )
            await self._write(event("endpoint", self.endpoint_url(session.id)))
            await await_many_dispatch([receive, self._control.get], self.dispatch)
        except StopConsumer as stop:
            reason = stop.args[0] if stop.args else reason
        except asyncio.CancelledError:
            reason = McpSession.CloseReason.SERVER_SHUTDOWN
            raise
        finally:
            hub.unregister(session.id)
            session.close()
            await asyncio.shield(database_sync_to_async(store.record_close)(session, reason))

    def endpoint_url(self, session_id: str) -> str:
        root = self.scope.get("root_path", "")
        return f"{root}{reverse('django_mcp:messages')}?session_id={session_id}"

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            logger.warning("SSE consumer ignored a message of type %r", message.get("type"))
            return
        await handler(message)

    # Inputs -------------------------------------------------------------

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        raise StopConsumer(McpSession.CloseReason.CLIENT_DISCONNECT)

    async def http_request(self, message: dict[str, Any]) -> None:
        """A GET has no further body; stray chunks are ignored."""

    async def mcp_terminate(self, message: dict[str, Any]) -> None:
        await self._finish()
        raise StopConsumer(message.get("reason") or McpSession.CloseReason.TERMINATED)

    # The hub's handle on this stream -------------------------------------

    async def terminate(self, reason: str) -> None:
        """End the stream (admin terminate, revocation); the client sees it close."""
        hub.unregister(self.session.id if self.session else "")
        self._control.put_nowait({"type": "mcp.terminate", "reason": reason})

    async def heartbeat(self) -> None:
        await self._write(HEARTBEAT)

    # Outputs ------------------------------------------------------------

    async def send_message(self, message: Any) -> None:
        await self._write(message_event(message))

    async def _write(self, data: bytes) -> None:
        if not self._closing:
            await self.base_send({"type": "http.response.body", "body": data, "more_body": True})

    async def _finish(self) -> None:
        if not self._closing:
            self._closing = True
            await self.base_send({"type": "http.response.body", "body": b"", "more_body": False})


_default_handlers: Handlers | None = None


def default_handlers() -> Handlers:
    global _default_handlers
    if _default_handlers is None:
        _default_handlers = Handlers()
    return _default_handlers
