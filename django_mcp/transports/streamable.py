"""Streamable HTTP (MCP 2025-03-26 to 2025-11-25, and the stateless 2026-07-28): ``<prefix>``.

One endpoint, three methods:

- ``POST`` carries JSON-RPC. ``initialize`` (without a session id) creates a
  session, whose id comes back in ``Mcp-Session-Id``; every later message of
  the session carries that header. A POST of notifications or responses is
  answered ``202``; a POST of requests is answered on its own response, as
  ``application/json`` when only the responses come, else as
  ``text/event-stream`` carrying the notifications and server requests made
  while handling them before the responses (:mod:`.exchange`). A request that
  speaks the stateless revision (``MCP-Protocol-Version: 2026-07-28``) needs
  no session: :mod:`.stateless` answers it.
- ``GET`` opens the session's standalone stream: what the server sends outside
  any request (list changes, resource updates).
- ``DELETE`` ends the session.

Screening (Host, Origin, body size, rate limits) and authentication are those of
the HTTP+SSE endpoints: the same functions, the same DRF classes. A session is
bound to the principal that initialized it, in the process-local hub, exactly
like an SSE stream: a request whose ``Authorization`` header matches the
binding is served with no database query; any other is authenticated by DRF,
and a different user gets ``404``. A session lives with the worker that
created it; a request that reaches another worker is relayed (:mod:`.relay`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from django_mcp import store
from django_mcp.conf import mcp_settings
from django_mcp.models import McpSession
from django_mcp.protocol import jsonrpc
from django_mcp.protocol.envelope import meta_of
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import InvalidRequest, JSONRPCError, ParseError, Request
from django_mcp.security import limits, screening
from django_mcp.security.scopes import scopes_for
from django_mcp.transports.exchange import (
    Answer,
    Call,
    Item,
    RoutedSession,
    error_body,
    send_json,
)
from django_mcp.transports.http import (
    HttpRequest,
    is_json,
    session_not_found,
    write_answer,
    write_stream,
)
from django_mcp.transports.hub import WORKER_ID, fingerprint, hub, new_binding, worker_channel
from django_mcp.transports.relay import Remote, liveness, relay
from django_mcp.transports.sse import default_handlers
from django_mcp.transports.stateless import serve as serve_stateless

logger = logging.getLogger("django_mcp")

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
ALLOW = "GET, POST, DELETE"

#: Revisions whose Streamable HTTP took JSON-RPC batches (2025-06-18 removed them).
BATCH_VERSIONS = frozenset({"2024-11-05", "2025-03-26"})


def speaks_stateless(version: str | None, session_id: str | None, payload: Any) -> bool:
    """Whether a POST is for the stateless revision rather than for a session.

    A version header that names no handshake revision (2026-07-28, or one
    this server does not know: it gets the stateless revision's structured
    error) decides. Without one, a request that carries the stateless
    envelope and no session id is a stateless request missing its header.
    """
    if version is not None:
        return version not in HANDSHAKE_PROTOCOL_VERSIONS
    if session_id is not None or not isinstance(payload, dict):
        return False
    meta = meta_of(payload.get("params"))
    return (
        payload.get("method") != "initialize"
        and meta is not None
        and "io.modelcontextprotocol/protocolVersion" in meta
    )


class SessionStream:
    """The Streamable HTTP side of one session: what the hub holds as its stream.

    It answers the calls for the session (:meth:`serve`), ends it on ``DELETE``,
    admin terminate or revocation (:meth:`terminate`), and ends it when it has
    been left alone for ``STREAMABLE_SESSION_TIMEOUT`` (checked at each
    heartbeat), since many clients never send ``DELETE``.
    """

    def __init__(self, session: RoutedSession) -> None:
        self.session = session
        self.closed = False

    @property
    def router(self) -> Any:
        return self.session.router

    async def serve(self, call: Call) -> Answer:
        if self.closed:
            return session_not_found()
        self.session.last_activity = time.monotonic()
        headers = {SESSION_HEADER: self.session.id}
        if call.method == "DELETE":
            await self.terminate(McpSession.CloseReason.CLIENT_DISCONNECT)
            return Answer(status=204)
        if call.method == "GET":
            outbox = self.router.listen()
            return Answer(
                outbox=outbox,
                eager=True,
                headers=headers,
                on_disconnect=partial(self.router.unlisten, outbox),
            )
        payload = call.payload
        if call.body is not None:
            try:
                payload = jsonrpc.loads(call.body, mcp_settings.MAX_JSON_DEPTH)
            except ParseError as error:
                return Answer(status=400, body=error_body(error))
        answer = self.post(payload, call.protocol_version or self.session.protocol_version)
        answer.headers.update(headers)
        return answer

    def post(self, payload: Any, version: str | None) -> Answer:
        """Hand a POSTed body to the session; the answer waits for its requests."""
        batch = isinstance(payload, list)
        if batch and version not in BATCH_VERSIONS:
            return Answer(
                status=400,
                body=error_body(
                    InvalidRequest(
                        f"Invalid request: protocol version {version} takes one JSON-RPC "
                        "message per POST, not a batch"
                    )
                ),
            )
        items = payload if batch else [payload]
        if not items:
            return Answer(
                status=400, body=error_body(InvalidRequest("Invalid request: empty batch"))
            )
        replies: list[dict[str, Any]] = []
        ids: list[Any] = []
        accepted: list[Any] = []
        for item in items:
            try:
                message = jsonrpc.parse_message(item)
            except JSONRPCError as error:
                replies.append(error_body(error, jsonrpc.recover_id(item)))
                continue
            if isinstance(message, Request):
                if self.router.busy(message.id) or message.id in ids:
                    replies.append(
                        error_body(
                            InvalidRequest(f"Invalid request: id {message.id!r} is already in use"),
                            message.id,
                        )
                    )
                    continue
                ids.append(message.id)
            accepted.append(item)
        if not batch and replies:
            return Answer(status=400, body=replies[0])
        exchange = self.router.open(ids, batch=batch, replies=replies) if ids else None
        for item in accepted:
            self.session.receive(item)
        if exchange is None:
            return Answer(status=200, body=replies) if replies else Answer(status=202)
        return Answer(
            outbox=exchange, batch=batch, on_disconnect=partial(self.router.detach, exchange)
        )

    async def heartbeat(self) -> None:
        timeout = mcp_settings.STREAMABLE_SESSION_TIMEOUT
        if (
            timeout is not None
            and self.router.idle
            and self.session.running == 0
            and time.monotonic() - self.session.last_activity > timeout
        ):
            await self.terminate(McpSession.CloseReason.IDLE_TIMEOUT)

    async def terminate(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        hub.unregister(self.session.id)
        self.session.close()
        self.router.close()
        await asyncio.shield(database_sync_to_async(store.record_close)(self.session, reason))


def _record_new_session(session: RoutedSession, scope: dict[str, Any], token: Any) -> None:
    store.record_open(session, scope, token, worker_channel(WORKER_ID))
    store.record_initialize(session)


class StreamableEndpoint:
    """ASGI app for ``<prefix>`` (and ``<prefix>/``), mounted by ``django_mcp.routing``."""

    def __init__(self, handlers: Handlers | None = None) -> None:
        self._handlers = handlers

    @property
    def handlers(self) -> Handlers:
        return self._handlers or default_handlers()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = HttpRequest(scope, receive, send)
        # Host and Origin before anything else; credentials never from the query.
        rejection = screening.screen_scope(scope)
        if rejection is not None:
            await rejection.send(send)
            return
        if request.method == "POST":
            await self.post(request)
        elif request.method in ("GET", "DELETE"):
            await self.get_or_delete(request)
        else:
            await request.error(
                405,
                InvalidRequest(f"Method not allowed: use {ALLOW}"),
                [(b"allow", ALLOW.encode())],
            )

    # POST -------------------------------------------------------------------

    async def post(self, request: HttpRequest) -> None:
        if not (request.accepts("application/json") and request.accepts("text/event-stream")):
            await request.error(
                406,
                InvalidRequest(
                    "Not acceptable: the Accept header must list both application/json "
                    "and text/event-stream"
                ),
            )
            return
        if not is_json(request.headers.get("content-type")):
            await request.error(
                415, InvalidRequest("Unsupported media type: send Content-Type: application/json")
            )
            return
        body = await request.read_body()
        if body is None:
            return
        try:
            payload = jsonrpc.loads(body, mcp_settings.MAX_JSON_DEPTH)
        except ParseError as error:
            await request.error(400, error)
            return
        version = request.headers.get(VERSION_HEADER)
        session_id = request.headers.get(SESSION_HEADER)
        if speaks_stateless(version, session_id, payload):
            await serve_stateless(request, payload, self.handlers)
        elif session_id is None:
            await self.initialize(request, payload)
        else:
            await self.session_call(
                request,
                session_id,
                Call("POST", payload=payload, protocol_version=version),
                cost=limits.cost(payload),
                body=body,
            )

    async def initialize(self, request: HttpRequest, payload: Any) -> None:
        try:
            message = jsonrpc.parse_message(payload)
        except JSONRPCError:
            message = None
        if not (isinstance(message, Request) and message.method == "initialize"):
            await request.error(
                400,
                InvalidRequest(
                    "Bad request: missing Mcp-Session-Id header (only initialize may come "
                    "without one)"
                ),
            )
            return
        result = await request.authenticate(new_session=True)
        if result is None:
            return
        rejection = limits.throttle(_rate_key(request.credentials, result.user.pk))
        if rejection is not None:
            await rejection.send(request.send)
            return
        session = RoutedSession(
            session_id=hub.new_session_id(),
            user=result.user,
            handlers=self.handlers,
            transport=McpSession.Transport.STREAMABLE_HTTP,
            token_id=getattr(result.token, "pk", None),
            scopes=scopes_for(result.token),
        )
        exchange = session.router.open([message.id])
        session.receive(payload)
        reply = await _first_message(exchange.queue)
        if not isinstance(reply, dict) or "result" not in reply:
            session.close()
            await send_json(request.send, 200, reply)
            return
        await database_sync_to_async(_record_new_session)(session, request.scope, result.token)
        credentials = fingerprint(result.credentials) if result.credentials else None
        hub.register(
            session, SessionStream(session), new_binding(result.user.pk, result.token, credentials)
        )
        store.pulse.start()
        await hub.reachable()
        await send_json(request.send, 200, reply, [(SESSION_HEADER.encode(), session.id.encode())])

    # GET and DELETE -----------------------------------------------------------

    async def get_or_delete(self, request: HttpRequest) -> None:
        if request.method == "GET" and not request.accepts("text/event-stream"):
            await request.error(
                406, InvalidRequest("Not acceptable: the Accept header must list text/event-stream")
            )
            return
        if await request.read_body() is None:
            return
        version = request.headers.get(VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            # The stateless revision has no session to listen to or end.
            await request.error(
                405,
                InvalidRequest(
                    f"Method not allowed: {request.method} is not part of protocol version "
                    f"{version[:40]}; send requests with POST"
                ),
                [(b"allow", b"POST")],
            )
            return
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            await request.error(400, InvalidRequest("Bad request: missing Mcp-Session-Id header"))
            return
        await self.session_call(request, session_id, Call(request.method, protocol_version=version))

    # A call for a session -----------------------------------------------------

    async def session_call(
        self,
        request: HttpRequest,
        session_id: str,
        call: Call,
        *,
        cost: int = 1,
        body: bytes | None = None,
    ) -> None:
        """Serve ``call`` for ``session_id``, wherever the session lives.

        First without a query, when the ``Authorization`` header matches the
        session's binding (here, or on the worker that holds it); else after
        DRF authentication, which must name the user the session belongs to.
        """
        credentials = request.credentials
        local = hub.get(session_id)
        stream = local.stream if local is not None else None
        served = isinstance(stream, SessionStream)
        remote_call = Call(
            call.method,
            body=body.decode("utf-8") if body is not None else None,
            protocol_version=call.protocol_version,
        )
        if credentials is not None:
            rejection = limits.throttle(limits.credential_key(credentials), cost)
            if rejection is not None:
                await rejection.send(request.send)
                return
            if served and hub.admit(session_id, credentials=credentials) == "accepted":
                await self.answer_local(request, stream, call)
                return
            if not served and relay.reachable(session_id):
                remote = await relay.call(session_id, remote_call, credentials=credentials)
                if isinstance(remote, Remote):
                    await self.answer_remote(request, remote)
                    return
        result = await request.authenticate()
        if result is None:
            return
        user_id = result.user.pk
        if credentials is None:
            rejection = limits.throttle(limits.user_key(user_id), cost)
            if rejection is not None:
                await rejection.send(request.send)
                return
        if served:
            outcome = hub.admit(session_id, credentials=credentials, user_id=user_id)
            if outcome == "accepted":
                await self.answer_local(request, stream, call)
                return
        elif relay.reachable(session_id):
            remote = await relay.call(
                session_id, remote_call, credentials=credentials, user_id=user_id
            )
            if isinstance(remote, Remote):
                await self.answer_remote(request, remote)
                return
        await write_answer(request, session_not_found())

    async def answer_local(self, request: HttpRequest, stream: Any, call: Call) -> None:
        await write_answer(request, await stream.serve(call))

    async def answer_remote(self, request: HttpRequest, remote: Remote) -> None:
        try:
            answer = remote.answer
            if not remote.streams:
                await write_answer(request, answer)
                return
            outcome = await write_stream(request, answer, remote.queue, liveness=liveness())
            if outcome == "disconnected":
                await relay.detach(remote)
        finally:
            relay.forget(remote)


def _rate_key(credentials: str | None, user_id: Any) -> str:
    return limits.credential_key(credentials) if credentials else limits.user_key(user_id)


async def _first_message(queue: asyncio.Queue[Item]) -> Any:
    """The first message of an outbox (the answer to ``initialize``)."""
    kind, message = await queue.get()
    return message if kind == "message" else None
