"""The session actor: runs each request of one MCP session as its own task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from django_mcp.protocol import jsonrpc
from django_mcp.protocol.jsonrpc import (
    InvalidRequest,
    JSONRPCError,
    Notification,
    Request,
    Response,
)
from django_mcp.protocol.live import live_sessions
from django_mcp.protocol.outgoing import ClientRequests

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from django_mcp.protocol.handlers import Handlers
    from django_mcp.security.scopes import ToolScopes

logger = logging.getLogger("django_mcp")

Sender = Callable[[Any], Awaitable[None]]


class ServerSession:
    """State of one MCP session, independent of the transport that carries it.

    The transport feeds decoded JSON to :meth:`receive`; every message for the
    client leaves through ``send``.
    """

    def __init__(
        self,
        *,
        session_id: str,
        user: AbstractBaseUser | AnonymousUser,
        send: Sender,
        handlers: Handlers,
        transport: str,
        token_id: int | None = None,
        scopes: ToolScopes | None = None,
    ) -> None:
        self.id = session_id
        self.user = user
        self.token_id = token_id
        #: The tools the credential that opened the stream is limited to (None: all
        #: the user may use); bound at open, so checking it costs no query.
        self.scopes = scopes
        self.transport = transport
        self.handlers = handlers
        self._send = send
        self.protocol_version: str | None = None
        self.client_info: dict[str, Any] = {}
        self.client_capabilities: dict[str, Any] = {}
        self.initialized = False
        self.request_count = 0
        self.error_count = 0
        #: ``time.monotonic()`` of the last message from the client.
        self.last_activity = time.monotonic()
        self.closed = False
        #: Called (as a background task) once ``initialize`` has been answered.
        self.on_initialize: Callable[[ServerSession], Awaitable[None]] | None = None
        self._tasks: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        #: The lowest level of ``notifications/message`` the client wants
        #: (``logging/setLevel``); ``None`` until it sets one.
        self.log_level: str | None = None
        #: Requests this server sent to the client and still waits on.
        self.outgoing = ClientRequests(self)

    @property
    def modern(self) -> bool:
        """Whether this is the state of one request of a stateless revision (2026-07-28):
        no handshake, the version, client info and capabilities come with each
        request, and the server sends the client no requests of its own."""
        return self.protocol_version in MODERN_PROTOCOL_VERSIONS

    # Incoming -----------------------------------------------------------

    def receive(self, payload: Any) -> None:
        """Accept one decoded JSON body (object or batch); never raises."""
        if self.closed:
            return
        self.last_activity = time.monotonic()
        if isinstance(payload, list):
            self._spawn(self._batch(payload))
        else:
            self._accept(payload)

    def _accept(self, payload: Any) -> None:
        try:
            message = jsonrpc.parse_message(payload)
        except JSONRPCError as error:
            self.error_count += 1
            self._spawn(self.send(jsonrpc.error_response(jsonrpc.recover_id(payload), error)))
            return
        if isinstance(message, Request):
            self.request_count += 1
            if message.id in self._tasks:
                self.error_count += 1
                duplicate = InvalidRequest(f"Invalid request: id {message.id!r} is already in use")
                self._spawn(self.send(jsonrpc.error_response(message.id, duplicate)))
                return
            task = asyncio.ensure_future(self._answer(message))
            self._tasks[message.id] = task
            task.add_done_callback(self._forget(message.id))
        elif isinstance(message, Notification):
            self.handlers.notify(self, message)
        elif isinstance(message, Response):
            self.handlers.response(self, message)

    async def _batch(self, items: list[Any]) -> None:
        if not items:
            await self.send(
                jsonrpc.error_response(None, InvalidRequest("Invalid request: empty batch"))
            )
            return
        replies: list[Any] = []
        requests: list[Request] = []
        for item in items:
            try:
                message = jsonrpc.parse_message(item)
            except JSONRPCError as error:
                self.error_count += 1
                replies.append(jsonrpc.error_response(jsonrpc.recover_id(item), error))
                continue
            if isinstance(message, Request):
                self.request_count += 1
                requests.append(message)
            elif isinstance(message, Notification):
                self.handlers.notify(self, message)
            else:
                self.handlers.response(self, message)
        replies.extend(await asyncio.gather(*(self._call(request) for request in requests)))
        if replies:
            await self.send(replies)

    async def _answer(self, request: Request) -> None:
        reply = await self._call(request)
        await self.send(reply, related=request.id)

    async def _call(self, request: Request) -> dict[str, Any]:
        try:
            result = await self.handlers.request(self, request)
        except JSONRPCError as error:
            self.error_count += 1
            return jsonrpc.error_response(request.id, error)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.error_count += 1
            logger.exception("Unhandled error in MCP method %s", request.method)
            return jsonrpc.error_response(request.id, jsonrpc.InternalError())
        return jsonrpc.result_response(request.id, result)

    def _forget(self, request_id: jsonrpc.RequestId) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            if self._tasks.get(request_id) is task:
                del self._tasks[request_id]

        return done

    # Outgoing -----------------------------------------------------------

    async def send(self, message: Any, *, related: jsonrpc.RequestId | None = None) -> None:
        """Send ``message`` to the client.

        ``related`` is the id of the client request the message belongs to: its
        response, a progress or log notification, a request made while handling
        it. Transports that answer each request on its own HTTP response (Streamable
        HTTP) override this method to pick the stream; this one ignores it.
        """
        if not self.closed:
            await self._send(message)

    def send_soon(self, message: Any, *, related: jsonrpc.RequestId | None = None) -> None:
        """Send ``message`` from a background task; call on the session's loop."""
        self._spawn(self.send(message, related=related))

    def initialized_by_client(self) -> None:
        if self.on_initialize is not None:
            self._spawn(self.on_initialize(self))

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # Control ------------------------------------------------------------

    def cancel_request(self, request_id: jsonrpc.RequestId) -> bool:
        """Cancel a running request; its response is never sent."""
        task = self._tasks.pop(request_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    @property
    def running(self) -> int:
        return len(self._tasks)

    def close(self) -> None:
        """Stop every running request of this session."""
        self.closed = True
        live_sessions.discard(self.id)
        for task in [*self._tasks.values(), *self._background]:
            task.cancel()
        self._tasks.clear()
        self.outgoing.close()
