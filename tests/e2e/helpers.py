"""A raw HTTP+SSE client for the end-to-end tests, on httpx (no MCP SDK).

:class:`SseStream` opens ``GET /mcp/sse``, keeps every event and comment it
reads, and exposes the endpoint from the first event; :meth:`SseStream.post`
sends raw bodies to that endpoint and :meth:`SseStream.request` waits for the
``event: message`` that answers a request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Seconds any single wait in these tests may take before it fails.
WAIT = float(os.environ.get("E2E_WAIT", "20"))


@dataclass
class Event:
    name: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseStream:
    """One open SSE stream and the POSTs that go with it."""

    base_url: str
    headers: dict[str, str]
    path: str = "/mcp/sse"
    status: int | None = None
    response_headers: httpx.Headers | None = None
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    #: Every line read, in order, to assert what came first.
    lines: list[str] = field(default_factory=list)
    ended: bool = False
    _client: httpx.AsyncClient | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # Opening and closing -------------------------------------------------------

    async def open(self) -> SseStream:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(WAIT, read=None)
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait(lambda: self.ended or bool(self.events))
        if self.status != 200:
            raise AssertionError(f"GET {self.path} answered {self.status}")
        return self

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> SseStream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        assert self._client is not None
        try:
            async with self._client.stream("GET", self.path, headers=self.headers) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                if response.status_code != 200:
                    await response.aread()
                    return
                name, data = "message", []
                async for line in response.aiter_lines():
                    self.lines.append(line)
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif line == "" and data:
                        self.events.append(Event(name, "\n".join(data)))
                        name, data = "message", []
                    self._changed.set()
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True
            self._changed.set()

    # Waiting ---------------------------------------------------------------------

    async def wait(self, predicate: Any, limit: float = WAIT) -> None:
        """Wait until ``predicate()`` holds; fail after ``limit`` seconds."""
        try:
            async with asyncio.timeout(limit):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"timed out after {limit}s; events so far: {self.events[-5:]!r}"
            ) from None

    # What arrived ------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self.events and self.events[0].name == "endpoint", self.events[:1]
        return self.events[0].data

    @property
    def session_id(self) -> str:
        return self.endpoint.split("session_id=", 1)[1]

    def messages(self) -> list[Any]:
        """Decoded ``event: message`` payloads, batches kept as lists."""
        return [event.json() for event in self.events if event.name == "message"]

    def replies(self) -> list[dict[str, Any]]:
        """Every response object, batches flattened."""
        found: list[dict[str, Any]] = []
        for message in self.messages():
            for item in message if isinstance(message, list) else [message]:
                if isinstance(item, dict) and "method" not in item:
                    found.append(item)
        return found

    def replies_to(self, request_id: Any) -> list[dict[str, Any]]:
        return [r for r in self.replies() if "id" in r and r["id"] == request_id]

    async def reply(self, request_id: Any, limit: float = WAIT) -> dict[str, Any]:
        await self.wait(lambda: self.ended or bool(self.replies_to(request_id)), limit)
        found = self.replies_to(request_id)
        assert found, f"stream ended before the reply to {request_id!r}"
        return found[0]

    # Sending ------------------------------------------------------------------------

    async def post(
        self,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> httpx.Response:
        """POST ``body`` (bytes and str are sent as they are, anything else as JSON)."""
        assert self._client is not None
        if isinstance(body, bytes):
            content = body
        elif isinstance(body, str):
            content = body.encode()
        else:
            content = json.dumps(body).encode()
        return await self._client.post(
            url or self.endpoint,
            content=content,
            headers={"Content-Type": "application/json", **self.headers, **(headers or {})},
        )

    async def request(
        self, method: str, params: Any = None, request_id: Any = None
    ) -> dict[str, Any]:
        """Send one request, assert the 202, return the reply from the stream."""
        if request_id is None:
            request_id = f"{method}-{len(self.events)}-{id(self)}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        assert response.status_code == 202, (response.status_code, response.text)
        return await self.reply(request_id)

    async def result(self, method: str, params: Any = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "result" in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        assert response.status_code == 202, (response.status_code, response.text)

    async def initialize(self, version: str = "2024-11-05") -> dict[str, Any]:
        result = await self.result(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-e2e", "version": "1.0"},
            },
        )
        await self.notify("notifications/initialized")
        return result

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.result("tools/call", {"name": name, "arguments": arguments or {}})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_stream(base_url: str, token: str) -> SseStream:
    return await SseStream(base_url, bearer(token)).open()
