"""A raw Streamable HTTP client for the end-to-end tests (httpx, no MCP SDK).

:class:`Exchange` is what one POST got back: its status, headers, and the JSON
body or the SSE events. :class:`StreamableClient` sends POSTs with the right
headers (``Accept``, ``Content-Type``, ``Mcp-Session-Id``,
``MCP-Protocol-Version`` once initialized), and :class:`GetStream` reads a
``GET`` stream in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx

WAIT = float(os.environ.get("E2E_WAIT", "20"))
ACCEPT_BOTH = "application/json, text/event-stream"
MODERN = "2026-07-28"


@dataclass
class Event:
    name: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(text: str) -> tuple[list[Event], int]:
    """The events and the number of comment lines of an SSE body."""
    events: list[Event] = []
    comments = 0
    name, data = "message", []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.startswith(":"):
            comments += 1
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            events.append(Event(name, "\n".join(data)))
            name, data = "message", []
    return events, comments


@dataclass
class Exchange:
    status: int
    headers: httpx.Headers
    text: str
    events: list[Event] = field(default_factory=list)
    comments: int = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    @property
    def streamed(self) -> bool:
        return self.content_type == "text/event-stream"

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def messages(self) -> list[Any]:
        """Every JSON-RPC message of the answer, in order (one for a JSON answer)."""
        if self.streamed:
            return [event.json() for event in self.events if event.data]
        return [self.json()] if self.text else []

    @property
    def reply(self) -> Any:
        """The response (the last message)."""
        return self.messages[-1]


def request(request_id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize_request(request_id: Any = 0, version: str = "2025-11-25") -> dict[str, Any]:
    return request(
        request_id,
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw-e2e", "version": "1"},
        },
    )


def modern_meta(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-e2e", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
        **extra,
    }


@dataclass
class StreamableClient:
    base_url: str
    token: str | None
    path: str = "/mcp"
    session_id: str | None = None
    protocol_version: str | None = None
    _client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> StreamableClient:
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=WAIT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    def headers(self, **extra: str | None) -> dict[str, str]:
        headers = {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        for name, value in extra.items():
            key = name.replace("_", "-")
            headers.pop(key, None)
            for existing in [h for h in headers if h.lower() == key.lower()]:
                del headers[existing]
            if value is not None:
                headers[key] = value
        return headers

    async def send(
        self,
        method: str = "POST",
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
    ) -> Exchange:
        assert self._client is not None
        content = (
            raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        )
        async with self._client.stream(
            method, path or self.path, content=content, headers=headers or self.headers()
        ) as response:
            text = (await response.aread()).decode()
        exchange = Exchange(response.status_code, response.headers, text)
        if exchange.streamed:
            exchange.events, exchange.comments = parse_sse(text)
        return exchange

    async def post(self, body: Any, **headers: str | None) -> Exchange:
        return await self.send("POST", body, headers=self.headers(**headers))

    async def call(self, request_id: Any, method: str, params: dict[str, Any] | None = None) -> Any:
        """POST one request and return its response (failing on anything but 200)."""
        exchange = await self.post(request(request_id, method, params))
        assert exchange.status == 200, (exchange.status, exchange.text)
        return exchange.reply

    async def initialize(self, version: str = "2025-11-25") -> Exchange:
        exchange = await self.post(initialize_request(0, version))
        assert exchange.status == 200, exchange.text
        self.session_id = exchange.headers["mcp-session-id"]
        self.protocol_version = exchange.json()["result"]["protocolVersion"]
        initialized = await self.post(notification("notifications/initialized"))
        assert initialized.status == 202, initialized.text
        return exchange

    async def delete(self) -> Exchange:
        return await self.send("DELETE", headers=self.headers())


@dataclass
class GetStream:
    """The standalone ``GET`` stream of a session, read in the background."""

    client: StreamableClient
    status: int | None = None
    headers: httpx.Headers | None = None
    events: list[Event] = field(default_factory=list)
    comments: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _opened: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> GetStream:
        self._http = httpx.AsyncClient(
            base_url=self.client.base_url, timeout=httpx.Timeout(WAIT, read=None)
        )
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._opened.wait(), WAIT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.aclose()

    async def _read(self) -> None:
        assert self._http is not None
        headers = self.client.headers(Accept="text/event-stream", Content_Type=None)
        try:
            async with self._http.stream("GET", self.client.path, headers=headers) as response:
                self.status, self.headers = response.status_code, response.headers
                self._opened.set()
                buffer = ""
                async for chunk in response.aiter_text():
                    buffer += chunk
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        events, comments = parse_sse(block + "\n\n")
                        self.events.extend(events)
                        self.comments += comments
                        self._changed.set()
        finally:
            self._opened.set()
            self.ended.set()
            self._changed.set()

    async def wait_for(self, predicate: Any, limit: float = WAIT) -> None:
        async def waiting() -> None:
            while not predicate(self):
                self._changed.clear()
                if self.ended.is_set() and not predicate(self):
                    raise AssertionError(f"the stream ended: {self.events}")
                await self._changed.wait()

        await asyncio.wait_for(waiting(), limit)
