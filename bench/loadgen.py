"""A raw HTTP/1.1 + SSE load generator for MCP's HTTP+SSE transport (2024-11-05).

It speaks the wire protocol itself, on asyncio transports and protocols (the
layer under asyncio streams, without their per-read overhead): no HTTP client
library, no MCP SDK, none of the server's code. One process drives several
thousand calls per second on one core (more with uvloop).

What one session does, as a real client would:

1. ``GET <sse_path>`` with ``Authorization: Bearer <token>`` on its own
   connection; the response body is decoded (chunked or identity) and parsed
   as Server-Sent Events;
2. waits for ``event: endpoint`` and resolves its ``data`` against the stream URL;
3. POSTs ``initialize`` and waits for the response on the stream, then POSTs
   ``notifications/initialized``;
4. POSTs requests on keep-alive connections (a shared pool per target) and
   matches each ``event: message`` on its stream to the request by JSON-RPC id.

A call's latency runs from just before its POST is written to the moment the
matching ``event: message`` is parsed. A call counts as

- ``ok``: a JSON-RPC result without ``isError``;
- ``rpc_error``: a JSON-RPC error, or a tool result with ``isError``;
- ``http_<status>``: the POST was not answered 2xx (no response is then expected);
- ``conn_error``: the POST's connection failed;
- ``lost``: no response within the call timeout (the POST may have been accepted).

Responses that match no pending request (late after a timeout, or duplicated)
are counted as ``unmatched``: a server that delivers a response twice shows up
there.

Run ``python -m bench.loadgen --help`` to drive one server by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import re
import resource
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

perf = time.perf_counter

PROTOCOL_VERSION = "2024-11-05"
CLIENT_INFO = {"name": "django-mcp-bench", "version": "1"}
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
_LOADS = json.loads


class ProtocolError(Exception):
    """The server sent something that is not valid HTTP/1.1 or SSE."""


# --------------------------------------------------------------------------- parsers


class ChunkedDecoder:
    """Incremental decoder of the chunked transfer coding (RFC 9112, 7.1).

    ``feed()`` returns the payload bytes decoded so far; ``done`` turns true
    after the last chunk and its trailer section. Bytes after the end are
    kept in ``rest``.
    """

    __slots__ = ("_buf", "_remaining", "_state", "rest")

    _SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._buf = b""
        self._remaining = 0
        self._state = self._SIZE
        self.rest = b""

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        end_of_buf = len(buf)
        state = self._state
        while pos < end_of_buf:
            if state == self._DATA:
                take = min(self._remaining, end_of_buf - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    state = self._DATA_END
            elif state == self._SIZE:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if end_of_buf - pos > 1024:
                        raise ProtocolError("chunk size line too long")
                    break
                line = buf[pos:nl].split(b";", 1)[0].strip()
                pos = nl + 1
                try:
                    size = int(line, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line[:40]!r}") from None
                if size < 0:
                    raise ProtocolError("negative chunk size")
                if size == 0:
                    state = self._TRAILER
                else:
                    self._remaining = size
                    state = self._DATA
            elif state == self._DATA_END:
                if buf[pos : pos + 2] == b"\r\n":
                    pos += 2
                elif buf[pos : pos + 1] == b"\n":
                    pos += 1
                elif end_of_buf - pos < 2 and buf[pos : pos + 1] == b"\r":
                    break
                else:
                    raise ProtocolError("missing CRLF after chunk data")
                state = self._SIZE
            elif state == self._TRAILER:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                line = buf[pos:nl].strip()
                pos = nl + 1
                if not line:
                    state = self._DONE
            else:  # _DONE
                break
        self._state = state
        if state == self._DONE:
            self.rest += buf[pos:]
            self._buf = b""
        else:
            self._buf = buf[pos:]
        return b"".join(out) if len(out) != 1 else out[0]


class SseParser:
    """Incremental Server-Sent Events parser (the WHATWG event-stream format).

    ``feed()`` takes decoded body bytes and returns the events completed by
    them as ``(event_type, data)`` pairs; ``data`` is the ``data:`` lines joined
    with ``\\n``. Lines may end in CRLF, LF or CR. Comment lines (``: ping``)
    are counted in ``comments``.
    """

    __slots__ = ("_data", "_event", "_pending", "_started", "comments", "last_event_id", "retry")

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[bytes] = []
        self._started = False
        self.comments = 0
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        buf = self._pending + data if self._pending else data
        if not self._started:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._pending = buf
                return []
            self._started = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        hold = b""
        if b"\r" in buf:
            if buf.endswith(b"\r"):
                # Maybe the first half of a CRLF: decide when the next byte comes.
                buf, hold = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._pending = lines.pop() + hold
        events: list[tuple[str, bytes]] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append((self._event or "message", b"\n".join(self._data)))
                    self._data = []
                self._event = ""
                continue
            if line[0] == 58:  # b":"
                self.comments += 1
                continue
            name, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
            elif name == b"id":
                if b"\0" not in value:
                    self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                self.retry = int(value)
        return events


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.x response head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status line {lines[0][:80]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        key = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return status, headers


def _body_framing(status: int, headers: dict[str, str], method: str) -> tuple[str, int]:
    """How the response body is delimited: ("length", n), ("chunked", 0) or ("close", 0)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return "length", 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked", 0
    length = headers.get("content-length")
    if length is not None:
        try:
            return "length", int(length.split(",")[0])
        except ValueError:
            raise ProtocolError(f"bad content-length {length!r}") from None
    return "close", 0


class ResponseReader:
    """Incremental reader of one HTTP/1.1 response; ``feed()`` until ``done``."""

    __slots__ = (
        "_buf",
        "_chunked",
        "_framing",
        "_need",
        "body",
        "done",
        "headers",
        "keep_alive",
        "method",
        "on_body",
        "status",
    )

    def __init__(self, method: str = "POST", on_body: Callable[[bytes], None] | None = None):
        self.method = method
        self.on_body = on_body
        self._buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self._framing = ""
        self._need = 0
        self._chunked: ChunkedDecoder | None = None
        self.body: list[bytes] = []
        self.done = False
        self.keep_alive = True

    @property
    def head_done(self) -> bool:
        return self.status != 0

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; returns bytes past the end of this response."""
        if not self.status:
            buf = self._buf + data if self._buf else data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    raise ProtocolError("response head too long")
                self._buf = buf
                return b""
            self._buf = b""
            status, headers = parse_head(buf[:end])
            data = buf[end + 4 :]
            if 100 <= status < 200 and status != 101:
                return self.feed(data)  # interim response: read the real one
            self.status, self.headers = status, headers
            self._framing, self._need = _body_framing(status, headers, self.method)
            if "close" in headers.get("connection", "").lower() or self._framing == "close":
                self.keep_alive = False
            if self._framing == "chunked":
                self._chunked = ChunkedDecoder()
            elif self._framing == "length" and self._need == 0:
                self.done = True
                return data
        if not data:
            return b""
        if self._framing == "length":
            take = data[: self._need] if len(data) > self._need else data
            self._need -= len(take)
            self._emit(take)
            if self._need == 0:
                self.done = True
                return data[len(take) :]
            return b""
        if self._framing == "chunked":
            assert self._chunked is not None
            payload = self._chunked.feed(data)
            if payload:
                self._emit(payload)
            if self._chunked.done:
                self.done = True
                return self._chunked.rest
            return b""
        self._emit(data)  # read until close
        return b""

    def _emit(self, data: bytes) -> None:
        if self.on_body is not None:
            self.on_body(data)
        else:
            self.body.append(data)

    def eof(self) -> None:
        if self._framing == "close" and self.status:
            self.done = True


# --------------------------------------------------------------------------- connections


class PostConnection(asyncio.Protocol):
    """A keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self._reader: ResponseReader | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self._waiter is None
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._reader = ResponseReader("POST")
        self.requests += 1
        self.transport.write(data)
        return waiter

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None:
            # Bytes nobody asked for: the connection cannot be trusted any more.
            self.abort()
            return
        try:
            rest = reader.feed(data)
        except ProtocolError as error:
            self._fail(error)
            self.abort()
            return
        if reader.done:
            self._reader = None
            if rest or not reader.keep_alive:
                self.reusable = False
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((reader.status, b"".join(reader.body)))

    def eof_received(self) -> bool | None:
        if self._reader is not None:
            self._reader.eof()
            if self._reader.done:
                self.data_received(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self._fail(ConnectionError(f"connection closed{': ' + str(exc) if exc else ''}"))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self._reader = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.abort()


class PostPool:
    """Keep-alive POST connections to one host, shared by the sessions of a client."""

    def __init__(self, host: str, port: int, max_size: int) -> None:
        self.host = host
        self.port = port
        self.max_size = max_size
        self._idle: list[PostConnection] = []
        self._size = 0
        self._waiters: deque[asyncio.Future[PostConnection | None]] = deque()
        self.opened = 0

    async def _open(self) -> PostConnection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(PostConnection, self.host, self.port)
        except BaseException:
            self._size -= 1
            self._wake(None)
            raise
        self.opened += 1
        return conn

    async def acquire(self) -> PostConnection:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable:
                return conn
            self._size -= 1
        if self._size < self.max_size:
            self._size += 1
            return await self._open()
        waiter: asyncio.Future[PostConnection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection (or a slot) just as we were cancelled: pass it on.
                self._give_back(waiter.result())
            raise
        if handed is None:
            return await self._open()  # a slot freed up; our _size share was counted
        return handed

    def _give_back(self, conn: PostConnection | None) -> None:
        if conn is None:
            self._size -= 1
            self._wake(None)
        else:
            self.release(conn)

    def _wake(self, conn: PostConnection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if conn is None:
                    self._size += 1
                waiter.set_result(conn)
                return True
        return False

    def release(self, conn: PostConnection) -> None:
        if not conn.reusable:
            conn.abort()
            self._size -= 1
            self._wake(None)
            return
        if not self._wake(conn):
            self._idle.append(conn)

    def discard(self, conn: PostConnection) -> None:
        conn.abort()
        self._size -= 1
        self._wake(None)

    def close(self) -> None:
        for conn in self._idle:
            conn.abort()
        self._idle.clear()

    async def post(self, request: bytes) -> tuple[int, bytes]:
        conn = await self.acquire()
        try:
            result = await conn.request(request)
        except BaseException:
            self.discard(conn)
            raise
        self.release(conn)
        return result


class SseConnection(asyncio.Protocol):
    """The GET stream of one session: HTTP response head, then SSE events."""

    def __init__(self, session: McpSession) -> None:
        self.session = session
        self.transport: asyncio.Transport | None = None
        self.parser = SseParser()
        self.reader = ResponseReader("GET", on_body=self._on_body)
        self.head: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bytes_received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        reader = self.reader
        try:
            had_head = reader.head_done
            reader.feed(data)
        except ProtocolError as error:
            self._finish(error)
            if self.transport is not None:
                self.transport.abort()
            return
        if not had_head and reader.head_done and not self.head.done():
            self.head.set_result(None)
        if reader.done:
            # The server ended the stream (or answered with a plain error body).
            self._finish(None)
            if self.transport is not None:
                self.transport.close()

    def _on_body(self, data: bytes) -> None:
        if self.reader.status != 200:
            return
        for name, payload in self.parser.feed(data):
            self.session.on_event(name, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc)

    def _finish(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(exc or ConnectionError("stream closed before its head"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.session.on_stream_closed(exc)


# --------------------------------------------------------------------------- MCP session


@dataclass(frozen=True)
class Target:
    """Where the SSE endpoint of one server is."""

    name: str
    host: str
    port: int
    sse_path: str = "/mcp/sse"
    token: str | None = None

    @property
    def sse_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.sse_path}"

    @classmethod
    def from_url(cls, name: str, url: str, token: str | None = None) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, got {url!r}")
        return cls(name, parts.hostname, parts.port or 80, parts.path or "/", token)


@dataclass
class Stats:
    """Outcome counters and latencies of calls."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    #: Responses to no pending request that was ever sent on the session, or
    #: a second response to the same request: a server bug (duplicate delivery).
    unmatched: int = 0
    #: Responses that arrived after their call was counted as lost.
    late: int = 0
    #: Responses to a request whose POST was answered with an HTTP error (e.g.
    #: 404 "unknown session"): the server refused it, then ran it all the same.
    after_refusal: int = 0
    server_requests: int = 0

    def record(self, outcome: str, latency: float | None = None) -> None:
        self.outcomes[outcome] += 1
        if latency is not None:
            self.latencies.append(latency)

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "ok")


class SessionError(Exception):
    pass


class Client:
    """Sessions against one target, sharing a POST connection pool and stats."""

    def __init__(self, target: Target, *, post_connections: int = 64) -> None:
        self.target = target
        self.pool = PostPool(target.host, target.port, post_connections)
        self.stats = Stats()
        self.host_header = f"{target.host}:{target.port}"
        # Several tokens (comma-separated): sessions take them in turn, as the
        # sessions of many users would.
        tokens = [token for token in (target.token or "").split(",") if token]
        self._auths = [f"Authorization: Bearer {token}\r\n" for token in tokens] or [""]
        self._turn = itertools.count()
        self.sessions: list[McpSession] = []

    def next_auth(self) -> str:
        """The ``Authorization`` header line of the next session."""
        return self._auths[next(self._turn) % len(self._auths)]

    def get_request(self, path: str, auth: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host_header}\r\n{auth}"
            "Accept: text/event-stream\r\nCache-Control: no-store\r\n\r\n"
        ).encode("latin-1")

    def post_prefix(self, path: str, auth: str) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: {self.host_header}\r\n{auth}"
            "Content-Type: application/json\r\nAccept: */*\r\nContent-Length: "
        ).encode("latin-1")

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self.sessions.clear()
        self.pool.close()


class McpSession:
    """One MCP session over HTTP+SSE."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.auth = client.next_auth()
        self.stream: SseConnection | None = None
        self.endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._prefix = b""
        self._next_id = 1
        self.pending: dict[int, asyncio.Future[tuple[dict[str, Any], float]]] = {}
        self.expired: set[int] = set()  # ids of calls counted as lost
        self.refused: set[int] = set()  # ids whose POST got an HTTP error
        self.alive = False
        self.initialize_result: dict[str, Any] | None = None

    # -- events from the stream

    def on_event(self, name: str, data: bytes) -> None:
        if name == "message":
            try:
                message = _LOADS(data)
            except ValueError:
                self.client.stats.unmatched += 1
                return
            now = perf()
            if not isinstance(message, dict):
                self.client.stats.unmatched += 1
                return
            if "method" in message:
                self.client.stats.server_requests += 1
                return
            request_id = message.get("id")
            waiter = self.pending.pop(request_id, None)  # type: ignore[arg-type]
            if waiter is None or waiter.done():
                if request_id in self.expired:
                    self.expired.discard(request_id)
                    self.client.stats.late += 1
                elif request_id in self.refused:
                    self.refused.discard(request_id)
                    self.client.stats.after_refusal += 1
                else:
                    self.client.stats.unmatched += 1
                return
            waiter.set_result((message, now))
        elif name == "endpoint" and not self.endpoint.done():
            self.endpoint.set_result(data.decode("utf-8", "replace").strip())

    def on_stream_closed(self, exc: Exception | None) -> None:
        self.alive = False
        if not self.endpoint.done():
            self.endpoint.set_exception(SessionError(f"stream closed before endpoint: {exc}"))
            self.endpoint.exception()  # nobody may be waiting any more: no "never retrieved"
        error = SessionError("stream closed")
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        self.pending.clear()

    # -- life cycle

    async def open(self, *, initialize: bool = True, timeout: float = 30.0) -> None:
        """Open the stream, wait for the endpoint, then initialize."""
        client = self.client
        target = client.target
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, stream = await loop.create_connection(
                lambda: SseConnection(self), target.host, target.port
            )
            self.stream = stream
            client.sessions.append(self)
            assert stream.transport is not None
            stream.transport.write(client.get_request(target.sse_path, self.auth))
            await stream.head
            status = stream.reader.status
            if status != 200:
                await asyncio.wait([stream.closed], timeout=1.0)
                raise SessionError(f"GET {target.sse_path} answered {status}")
            ctype = stream.reader.headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                raise SessionError(f"GET {target.sse_path} content-type {ctype!r}")
            self.alive = True
            endpoint = await self.endpoint
            parts = urlsplit(urljoin(target.sse_url, endpoint))
            if (parts.hostname, parts.port or 80) != (target.host, target.port):
                raise SessionError(f"endpoint {endpoint!r} is on another origin")
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            self._prefix = client.post_prefix(path, self.auth)
            if initialize:
                result = await self.request(
                    "initialize",
                    {
                        "protocolVersion": PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": CLIENT_INFO,
                    },
                )
                if "result" not in result:
                    raise SessionError(f"initialize failed: {result.get('error')}")
                self.initialize_result = result["result"]
                await self.notify("notifications/initialized")

    def close(self) -> None:
        self.alive = False
        if self.stream is not None and self.stream.transport is not None:
            self.stream.transport.close()

    # -- messages

    def _post_bytes(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self._prefix, len(body), body)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        status, _ = await self.client.pool.post(self._post_bytes(_DUMPS(message).encode()))
        if not 200 <= status < 300:
            raise SessionError(f"POST {method} answered {status}")

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return the response message (raises on HTTP errors)."""
        outcome, message, _ = await self.call(method, params)
        if message is None:
            raise SessionError(f"{method}: {outcome}")
        return message

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> tuple[str, dict[str, Any] | None, float]:
        """Send one request; returns (outcome, response or None, latency in seconds)."""
        request_id = self._next_id
        self._next_id = request_id + 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        data = self._post_bytes(_DUMPS(message).encode())
        waiter: asyncio.Future[tuple[dict[str, Any], float]]
        waiter = asyncio.get_running_loop().create_future()
        self.pending[request_id] = waiter
        started = perf()
        try:
            async with asyncio.timeout(timeout):
                try:
                    status, _ = await self.client.pool.post(data)
                except (OSError, ProtocolError):
                    self.pending.pop(request_id, None)
                    return "conn_error", None, perf() - started
                if not 200 <= status < 300:
                    self.pending.pop(request_id, None)
                    self.refused.add(request_id)
                    return f"http_{status}", None, perf() - started
                try:
                    response, received = await waiter
                except SessionError:
                    return "stream_closed", None, perf() - started
        except TimeoutError:
            self.pending.pop(request_id, None)
            self.expired.add(request_id)
            return "lost", None, perf() - started
        latency = received - started
        if "error" in response:
            return "rpc_error", response, latency
        result = response.get("result")
        if isinstance(result, dict) and result.get("isError"):
            return "rpc_error", response, latency
        return "ok", response, latency

    async def call_tool(
        self, name: str, arguments: dict[str, Any], timeout: float = 30.0
    ) -> tuple[str, dict[str, Any] | None, float]:
        return await self.call("tools/call", {"name": name, "arguments": arguments}, timeout)


# --------------------------------------------------------------------------- workloads


def echo_args() -> dict[str, Any]:
    return {"message": "hello from the bench"}


def check_echo(response: dict[str, Any] | None, message: str) -> bool:
    """True when a tools/call echo response carries the message back."""
    if response is None:
        return False
    result = response.get("result") or {}
    structured = result.get("structuredContent")
    if isinstance(structured, dict) and "result" in structured and "echo" not in structured:
        structured = structured["result"]
    if isinstance(structured, dict) and structured.get("echo") == message:
        return True
    return any(message in str(block.get("text", "")) for block in result.get("content", []))


def count_5xx(outcomes: dict[str, int]) -> int:
    """Calls (``http_5xx`` outcomes) or failed opens (``... answered 5xx``) with a 5xx status."""
    return sum(n for k, n in outcomes.items() if re.search(r"(http_|answered )5\d\d", k))


def summarize(latencies: Sequence[float]) -> dict[str, float | None]:
    """Latency percentiles in milliseconds."""
    if not latencies:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ordered = sorted(latencies)

    def pct(p: float) -> float:  # nearest rank
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    return {
        "p50_ms": round(pct(50), 3),
        "p90_ms": round(pct(90), 3),
        "p99_ms": round(pct(99), 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


async def open_sessions(
    client: Client,
    count: int,
    *,
    concurrency: int = 100,
    timeout: float = 60.0,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[McpSession], Counter[str]]:
    """Open and initialize ``count`` sessions, at most ``concurrency`` at a time."""
    sessions: list[McpSession] = []
    failures: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            session = McpSession(client)
            try:
                await session.open(timeout=timeout)
            except (OSError, SessionError, ProtocolError, TimeoutError) as error:
                failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                session.close()
                return
            sessions.append(session)
            if progress is not None:
                progress(len(sessions))

    await asyncio.gather(*(one() for _ in range(count)))
    return sessions, failures


async def sequential(
    target: Target, calls: int, warmup: int, timeout: float = 30.0
) -> dict[str, Any]:
    """Workload 1: tools/call echo one after another on one session."""
    client = Client(target, post_connections=1)
    try:
        session = McpSession(client)
        await session.open()
        args = echo_args()
        for _ in range(warmup):
            await session.call_tool("echo", args, timeout)
        stats = client.stats
        bad_payload = 0
        started = perf()
        for _ in range(calls):
            outcome, response, latency = await session.call_tool("echo", args, timeout)
            stats.record(outcome, latency if outcome == "ok" else None)
            if outcome == "ok" and not check_echo(response, args["message"]):
                bad_payload += 1
        elapsed = perf() - started
        return {
            "calls": calls,
            "seconds": round(elapsed, 3),
            "calls_per_s": round(calls / elapsed, 1),
            **summarize(stats.latencies),
            "errors": stats.errors,
            "outcomes": dict(stats.outcomes),
            "bad_payload": bad_payload,
            "unmatched": stats.unmatched,
        }
    finally:
        client.close()


async def _call_loop(
    session: McpSession, stats: Stats, until: float, timeout: float, record: bool
) -> None:
    args = echo_args()
    while perf() < until:
        outcome, _, latency = await session.call_tool("echo", args, timeout)
        if record:
            stats.record(outcome, latency if outcome == "ok" else None)
        if outcome in ("stream_closed", "conn_error") and not session.alive:
            return


async def concurrent(
    target: Target,
    sessions: int,
    duration: float,
    warmup: float,
    *,
    timeout: float = 30.0,
    on_start: Callable[[], Any] | None = None,
    on_stop: Callable[[], Any] | None = None,
    post_connections: int | None = None,
) -> dict[str, Any]:
    """Workload 2: ``sessions`` sessions each calling echo back to back for ``duration``.

    ``on_start``/``on_stop`` run right before and after the measured window
    (the runner samples server CPU there); ``on_stop``'s value is returned
    under ``"server"``.
    """
    client = Client(target, post_connections=post_connections or sessions)
    try:
        opened, failures = await open_sessions(client, sessions, concurrency=min(sessions, 50))
        if not opened:
            return {
                "sessions": sessions,
                "open_failures": dict(failures),
                "errors": sum(failures.values()),
            }
        if warmup > 0:
            until = perf() + warmup
            await asyncio.gather(
                *(_call_loop(s, client.stats, until, timeout, False) for s in opened)
            )
        stats = client.stats = Stats()
        if on_start is not None:
            on_start()
        started = perf()
        until = started + duration
        await asyncio.gather(*(_call_loop(s, stats, until, timeout, True) for s in opened))
        elapsed = perf() - started
        server = on_stop() if on_stop is not None else None
        ok = stats.outcomes.get("ok", 0)
        total = sum(stats.outcomes.values())
        streams_closed = sum(1 for s in opened if not s.alive)
        return {
            "sessions": sessions,
            "opened": len(opened),
            "open_failures": dict(failures),
            "seconds": round(elapsed, 3),
            "calls": total,
            "ok": ok,
            "calls_per_s": round(ok / elapsed, 1),
            **summarize(stats.latencies),
            # Sessions that failed to open count as errors too.
            "errors": stats.errors + sum(failures.values()),
            "lost": stats.outcomes.get("lost", 0),
            "http_5xx": count_5xx(stats.outcomes) + count_5xx(failures),
            "outcomes": dict(stats.outcomes),
            "unmatched": stats.unmatched,
            "late": stats.late,
            "after_refusal": stats.after_refusal,
            "streams_closed": streams_closed,
            "post_connections_opened": client.pool.opened,
            "server": server,
        }
    finally:
        client.close()


async def connect_times(target: Target, count: int, warmup: int = 3) -> dict[str, Any]:
    """Workload 3: open + initialize one session at a time; the time until it is ready."""
    times: list[float] = []
    failures: Counter[str] = Counter()
    for index in range(warmup + count):
        client = Client(target, post_connections=1)
        session = McpSession(client)
        started = perf()
        try:
            await session.open()
        except (OSError, SessionError, ProtocolError, TimeoutError) as error:
            failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
        else:
            if index >= warmup:
                times.append(perf() - started)
        finally:
            client.close()
            if session.stream is not None:
                await asyncio.wait([session.stream.closed], timeout=2.0)
    result: dict[str, Any] = {"count": len(times), **summarize(times)}
    if failures:
        result["failures"] = dict(failures)
    return result


async def ping_all(
    sessions: Sequence[McpSession], concurrency: int = 200, timeout: float = 30.0
) -> Counter[str]:
    """Send ``ping`` on every session, ``concurrency`` at a time; outcome counts."""
    outcomes: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(session: McpSession) -> None:
        async with semaphore:
            if not session.alive:
                outcomes["stream_closed"] += 1
                return
            outcome, _, _ = await session.call("ping", None, timeout)
            outcomes[outcome] += 1

    await asyncio.gather(*(one(s) for s in sessions))
    return outcomes


async def idle(
    target: Target,
    count: int,
    *,
    concurrency: int = 100,
    settle: float = 3.0,
    open_timeout: float = 120.0,
    measure: Callable[[str], Any] | None = None,
    hold: Callable[[list[McpSession]], Awaitable[Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Workload 4: hold ``count`` idle sessions open; check every one still answers.

    ``measure(phase)`` is called with "before" (nothing open) and "after"
    (all open, settled) and its values are returned under ``"measure"``.
    ``hold(sessions)`` (optional) runs while all sessions are open.
    """
    client = Client(target, post_connections=min(concurrency, 256))
    result: dict[str, Any] = {"sessions": count}
    try:
        measured: dict[str, Any] = {}
        if measure is not None:
            measured["before"] = measure("before")
        started = perf()
        sessions, failures = await open_sessions(
            client, count, concurrency=concurrency, timeout=open_timeout, progress=progress
        )
        result["open_seconds"] = round(perf() - started, 2)
        result["opened"] = len(sessions)
        result["open_failures"] = dict(failures)
        await asyncio.sleep(settle)
        if measure is not None:
            measured["after"] = measure("after")
        result["alive_before_ping"] = sum(1 for s in sessions if s.alive)
        started = perf()
        pings = await ping_all(sessions)
        result["ping_seconds"] = round(perf() - started, 2)
        result["ping_outcomes"] = dict(pings)
        result["all_alive"] = pings.get("ok", 0) == count
        if hold is not None:
            result["hold"] = await hold(sessions)
        result["measure"] = measured
        result["unmatched"] = client.stats.unmatched
        return result
    finally:
        client.close()


async def spread(
    target: Target,
    sessions: Sequence[McpSession],
    callers: int,
    duration: float,
    *,
    timeout: float = 30.0,
    on_start: Callable[[], Any] | None = None,
    on_stop: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Calls spread over many open sessions: ``callers`` loops, each taking the next session.

    Every session is called at least once when ``duration`` allows; a session
    never has two calls in flight.
    """
    stats = Stats()
    clients = {id(s.client): s.client for s in sessions}
    for c in clients.values():
        c.stats = stats
    order = list(sessions)
    random.shuffle(order)
    queue: deque[McpSession] = deque(order)
    called: set[int] = set()
    args = echo_args()

    async def caller(until: float) -> None:
        while perf() < until and queue:
            session = queue.popleft()
            outcome, _, latency = await session.call_tool("echo", args, timeout)
            stats.record(outcome, latency if outcome == "ok" else None)
            called.add(id(session))
            if session.alive:
                queue.append(session)

    if on_start is not None:
        on_start()
    started = perf()
    until = started + duration
    await asyncio.gather(*(caller(until) for _ in range(callers)))
    elapsed = perf() - started
    server = on_stop() if on_stop is not None else None
    ok = stats.outcomes.get("ok", 0)
    return {
        "sessions": len(sessions),
        "callers": callers,
        "seconds": round(elapsed, 3),
        "calls": sum(stats.outcomes.values()),
        "ok": ok,
        "calls_per_s": round(ok / elapsed, 1),
        **summarize(stats.latencies),
        "errors": stats.errors,
        "lost": stats.outcomes.get("lost", 0),
        "http_5xx": count_5xx(stats.outcomes),
        "outcomes": dict(stats.outcomes),
        "unmatched": stats.unmatched,
        "late": stats.late,
        "after_refusal": stats.after_refusal,
        "sessions_called": len(called),
        "server": server,
    }


# --------------------------------------------------------------------------- process setup


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def new_event_loop(use_uvloop: bool = True) -> tuple[asyncio.AbstractEventLoop, str]:
    """A uvloop loop when uvloop is installed (and wanted), else asyncio's."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop(), f"uvloop {getattr(uvloop, '__version__', '?')}"
    return asyncio.new_event_loop(), "asyncio"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadgen", description="Drive one MCP HTTP+SSE server by hand."
    )
    parser.add_argument("workload", choices=["sequential", "concurrent", "connect", "idle"])
    parser.add_argument("url", help="SSE URL, e.g. http://127.0.0.1:8000/mcp/sse")
    parser.add_argument(
        "--token",
        default=os.environ.get("MCP_TOKEN"),
        help="bearer token; several, comma-separated, are used by the sessions in turn",
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    raise_nofile()
    target = Target.from_url("server", args.url, args.token)
    loop, loop_name = new_event_loop(not args.no_uvloop)

    async def run() -> dict[str, Any]:
        if args.workload == "sequential":
            return await sequential(target, args.calls, warmup=min(200, args.calls))
        if args.workload == "concurrent":
            return await concurrent(target, args.sessions, args.duration, warmup=2.0)
        if args.workload == "connect":
            return await connect_times(target, args.calls)
        return await idle(target, args.sessions)

    try:
        result = loop.run_until_complete(run())
    finally:
        loop.close()
    print(json.dumps({"loop": loop_name, args.workload: result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
