"""Which HTTP response each message of a session goes on, and how it is written.

In Streamable HTTP a POST that carries requests is answered on its own
response: the notifications and server requests made while handling those
requests, then their responses. Messages that belong to no open request
(list changes, resource updates, requests of a request whose client went away)
go on the session's standalone stream, the response of its ``GET``, when one is
open.

- An :class:`Outbox` is the ordered queue of messages bound for one open
  response; an :class:`Exchange` is the outbox of one POST, which ends with the
  response to its last request.
- A :class:`Router` holds a session's open outboxes and picks one for each
  message, from the id of the client request the message belongs to (see
  :meth:`ServerSession.send <django_mcp.protocol.session.ServerSession.send>`).
- :class:`RoutedSession` is the session whose ``send`` goes through a router.
- :class:`ResponseWriter` turns an outbox's items into the HTTP response:
  ``application/json`` when only responses came, else ``text/event-stream``.

Outbox items are plain tuples, so an outbox held by one worker can be relayed
to the worker that holds the HTTP connection (:mod:`.relay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django_mcp.conf import mcp_settings
from django_mcp.protocol.jsonrpc import RequestId
from django_mcp.protocol.session import ServerSession
from django_mcp.transports.events import HEARTBEAT, SSE_HEADERS, message_event

logger = logging.getLogger("django_mcp")

#: ``("message", <JSON-RPC message>)``, ``("end", None)`` (``("end", "cancelled")``
#: when the client cancelled what it waited for) or, relayed from a worker that
#: is still working, ``("beat", None)``.
Item = tuple[str, Any]
BEAT: Item = ("beat", None)
CANCELLED = "cancelled"


def is_response(message: Any) -> bool:
    """Whether ``message`` answers a client request (a result or an error, no method)."""
    return (
        isinstance(message, dict)
        and "method" not in message
        and "id" in message
        and ("result" in message or "error" in message)
    )


class Outbox:
    """The messages bound for one open HTTP response, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.ended = False

    def put(self, message: Any) -> None:
        if not self.ended:
            self.queue.put_nowait(("message", message))

    def end(self, reason: str | None = None) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(("end", reason))


class Exchange(Outbox):
    """The outbox of one POST: it ends once every request of the POST is answered.

    ``replies`` are answers known before any request runs (errors for the
    invalid members of a batch). A *detached* exchange lost its client (which,
    before 2026-07-28, does not cancel anything): its requests run on, and what
    they send other than their responses goes to the standalone stream.
    """

    def __init__(
        self, ids: Iterable[RequestId], *, batch: bool, replies: Iterable[Any] = ()
    ) -> None:
        super().__init__()
        self.ids = list(ids)
        self.pending = set(self.ids)
        self.batch = batch
        self.detached = False
        for reply in replies:
            self.put(reply)
        if not self.pending:
            self.end()

    def respond(self, message: dict[str, Any]) -> None:
        self.put(message)
        self.pending.discard(message["id"])
        if not self.pending:
            self.end()

    def cancel(self, request_id: RequestId) -> None:
        """The client cancelled one of the requests: no response will come for it."""
        self.pending.discard(request_id)
        if not self.pending:
            self.end(CANCELLED)


class Router:
    """The open responses of one session, and which one each message goes on."""

    def __init__(self) -> None:
        self.exchanges: dict[RequestId, Exchange] = {}
        self.standalone: Outbox | None = None

    def open(
        self, ids: Iterable[RequestId], *, batch: bool = False, replies: Iterable[Any] = ()
    ) -> Exchange:
        exchange = Exchange(ids, batch=batch, replies=replies)
        for request_id in exchange.pending:
            self.exchanges[request_id] = exchange
        return exchange

    def busy(self, request_id: RequestId) -> bool:
        """Whether ``request_id`` is still being answered on an open exchange."""
        return request_id in self.exchanges

    def route(self, message: Any, related: RequestId | None = None) -> None:
        if isinstance(message, list):
            for item in message:
                self.route(item, related)
            return
        if is_response(message):
            exchange = self.exchanges.pop(message["id"], None)
            if exchange is not None:
                exchange.respond(message)
            else:
                logger.debug("Dropped the response to %r: nobody waits for it", message["id"])
            return
        if related is not None:
            exchange = self.exchanges.get(related)
            if exchange is not None and not exchange.detached:
                exchange.put(message)
                return
        if self.standalone is not None:
            self.standalone.put(message)
        else:
            logger.debug("Dropped %r: no stream is open for it", message.get("method"))

    def detach(self, exchange: Exchange) -> None:
        exchange.detached = True

    def cancelled(self, request_id: RequestId) -> None:
        exchange = self.exchanges.pop(request_id, None)
        if exchange is not None:
            exchange.cancel(request_id)

    def listen(self) -> Outbox:
        """A new standalone stream; it replaces (and ends) the previous one."""
        if self.standalone is not None:
            self.standalone.end()
        self.standalone = Outbox()
        return self.standalone

    def unlisten(self, outbox: Outbox) -> None:
        if self.standalone is outbox:
            self.standalone = None
        outbox.end()

    @property
    def idle(self) -> bool:
        """No response is open: no request waits for its answer, no stream listens."""
        return self.standalone is None and not any(
            not exchange.detached for exchange in self.exchanges.values()
        )

    def close(self) -> None:
        for exchange in set(self.exchanges.values()):
            exchange.end()
        self.exchanges.clear()
        if self.standalone is not None:
            self.standalone.end()
            self.standalone = None


class RoutedSession(ServerSession):
    """A session whose messages go on the HTTP response their request is answered on."""

    def __init__(self, *, router: Router | None = None, **kwargs: Any) -> None:
        self.router = router or Router()
        super().__init__(send=self._unrouted, **kwargs)

    async def _unrouted(self, message: Any) -> None:
        self.router.route(message)

    async def send(self, message: Any, *, related: RequestId | None = None) -> None:
        if not self.closed:
            self.router.route(message, related)

    def cancel_request(self, request_id: RequestId) -> bool:
        cancelled = super().cancel_request(request_id)
        if cancelled:
            # Its response never comes: the response it was waiting on ends.
            self.router.cancelled(request_id)
        return cancelled


# What a session is asked, and what it answers -----------------------------------


@dataclass
class Call:
    """One HTTP request for a session: ``POST`` (with its decoded ``payload`` or raw
    ``body``), ``GET`` or ``DELETE``, and its ``MCP-Protocol-Version`` header."""

    method: str
    payload: Any = None
    body: str | None = None
    protocol_version: str | None = None


@dataclass
class Answer:
    """The HTTP answer a session gives a :class:`Call`.

    Without an ``outbox`` it is complete: ``status`` and a JSON ``body`` (none
    when ``None``). With one, the messages of the outbox are written by a
    :class:`ResponseWriter`, and ``on_disconnect`` runs if the client goes away
    before the outbox ends.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    outbox: Outbox | None = None
    batch: bool = False
    eager: bool = False
    on_disconnect: Callable[[], None] | None = None

    def head(self) -> dict[str, Any]:
        """Everything but the outbox, as JSON (what a relay sends ahead of the messages)."""
        return {
            "status": self.status,
            "body": self.body,
            "headers": self.headers,
            "stream": self.outbox is not None,
            "batch": self.batch,
            "eager": self.eager,
        }


def asgi_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def error_body(error: Any, request_id: RequestId | None = None) -> dict[str, Any]:
    """A JSON-RPC error response for a :class:`~django_mcp.protocol.jsonrpc.JSONRPCError`."""
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}


# Writing a response ------------------------------------------------------------

Outcome = Literal["answered", "disconnected", "empty"]


@dataclass
class ResponseWriter:
    """Writes the items of one outbox queue as the HTTP response.

    Responses are held back until the outbox ends: if nothing else came, they
    are sent as ``application/json`` (one object, or an array for a batch).
    The first notification or server request, or ``HEARTBEAT_INTERVAL``
    seconds of silence, switch the response to ``text/event-stream`` (at once
    when ``eager``, for a ``GET``), with a ``: ping`` comment whenever it is
    idle that long. ``status_of`` gives the status of a JSON answer from its
    message. With ``liveness``, a queue fed from another worker that stays
    silent that long is taken for a dead worker: the response ends.

    :meth:`run` returns ``"empty"`` when the outbox ended with nothing to say
    and nothing was sent: the caller answers.
    """

    send: Any
    disconnected: asyncio.Future[None]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    batch: bool = False
    eager: bool = False
    status_of: Callable[[Any], int] = lambda message: 200
    liveness: float | None = None
    streaming: bool = False
    _held: list[Any] = field(default_factory=list)

    async def run(self, queue: asyncio.Queue[Item]) -> Outcome:
        if self.eager:
            await self._start_stream()
        idle = mcp_settings.HEARTBEAT_INTERVAL
        last = time.monotonic()
        getter: asyncio.Future[Item] | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, self.disconnected}
                done, _ = await asyncio.wait(
                    waiting, timeout=idle, return_when=asyncio.FIRST_COMPLETED
                )
                if self.disconnected in done:
                    return "disconnected"
                if getter not in done:
                    if self.liveness is not None and time.monotonic() - last > self.liveness:
                        logger.warning("The worker holding this session went silent")
                        return await self._finish()
                    await self._ping()
                    continue
                kind, message = getter.result()
                getter = None
                last = time.monotonic()
                if kind == "end":
                    if message == CANCELLED and not self.streaming and not self._held:
                        # Nothing to answer: an empty event stream says so.
                        await self._start_stream()
                    return await self._finish()
                if kind == "beat":
                    continue
                if self.streaming:
                    await self._write(message_event(message))
                elif is_response(message):
                    self._held.append(message)
                else:
                    await self._start_stream()
                    await self._write(message_event(message))
        finally:
            if getter is not None:
                getter.cancel()

    async def _ping(self) -> None:
        if not self.streaming:
            await self._start_stream()
        await self._write(HEARTBEAT)

    async def _start_stream(self) -> None:
        self.streaming = True
        await self.send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers]}
        )
        # An empty chunk makes servers (daphne) send the headers now, not with
        # the first event: a GET stream may stay silent for a long time.
        await self._write(b"")
        held, self._held = self._held, []
        for message in held:
            await self._write(message_event(message))

    async def _write(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def _finish(self) -> Outcome:
        if self.streaming:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return "answered"
        if not self._held:
            return "empty"
        body = self._held if self.batch else self._held[0]
        status = 200 if self.batch else self.status_of(body)
        await send_json(self.send, status, body, self.headers)
        return "answered"


async def send_json(
    send: Any, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_empty(send: Any, status: int, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"0"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def watch_disconnect(receive: Any) -> asyncio.Future[None]:
    """A future that completes when the client goes away (``http.disconnect``)."""

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    return asyncio.ensure_future(watch())


def cancel(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.cancel()
    with contextlib.suppress(BaseException):
        future.exception()
