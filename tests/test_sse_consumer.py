"""The SSE consumer driven through ASGI messages (Channels' ApplicationCommunicator).

What the end-to-end tests cannot see from outside: a disconnect cancels the
tools still running and closes the session's row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator

from django_mcp.models import ApiToken, McpSession
from django_mcp.transports.hub import hub
from django_mcp.transports.sse import SseConsumer
from tests.testapp import mcp_tools

pytestmark = pytest.mark.django_db(transaction=True)


def scope(token: str | None, method: str = "GET") -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"accept", b"text/event-stream")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/mcp/sse",
        "raw_path": b"/mcp/sse",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


class Stream:
    def __init__(self, communicator: ApplicationCommunicator) -> None:
        self.communicator = communicator
        self.buffer = ""

    async def event(self) -> tuple[str, str]:
        """The next SSE event (name, data), skipping heartbeats."""
        while "\n\n" not in self.buffer:
            message = await self.communicator.receive_output(10)
            assert message["type"] == "http.response.body", message
            self.buffer += message["body"].decode()
        raw, self.buffer = self.buffer.split("\n\n", 1)
        lines = [line for line in raw.split("\n") if not line.startswith(":")]
        if not lines:
            return await self.event()
        name = lines[0].removeprefix("event: ")
        data = "\n".join(line.removeprefix("data: ") for line in lines[1:])
        return name, data


@pytest.fixture
async def token() -> AsyncIterator[tuple[Any, str]]:
    from django.contrib.auth import get_user_model

    user = await get_user_model().objects.acreate(username="streamer")
    _, raw = await sync_to_async(ApiToken.create)(user)
    yield user, raw


async def open_stream(raw: str) -> tuple[Stream, str]:
    communicator = ApplicationCommunicator(SseConsumer.as_asgi(), scope(raw))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    stream = Stream(communicator)
    name, data = await stream.event()
    assert name == "endpoint"
    return stream, data.split("session_id=", 1)[1]


async def test_disconnect_cancels_running_tools_and_closes_the_row(
    token: tuple[Any, str],
) -> None:
    mcp_tools.SLOW_EVENTS.clear()
    user, raw = token
    stream, session_id = await open_stream(raw)
    assert hub.get(session_id) is not None
    row = await McpSession.objects.aget(pk=session_id)
    assert row.user_id == user.pk and row.closed_at is None

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}},
    }
    assert await hub.deliver(session_id, initialize, user_id=user.pk) == "accepted"
    name, data = await stream.event()
    assert name == "message"
    assert json.loads(data)["result"]["protocolVersion"] == "2025-06-18"

    slow = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "slow", "arguments": {"seconds": 60}},
    }
    assert await hub.deliver(session_id, slow, user_id=user.pk) == "accepted"
    async with asyncio.timeout(10):
        while mcp_tools.SLOW_EVENTS != ["started"]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await stream.communicator.send_input({"type": "http.disconnect"})
    await stream.communicator.wait(10)
    assert mcp_tools.SLOW_EVENTS == ["started", "cancelled"]
    assert hub.get(session_id) is None
    row = await McpSession.objects.aget(pk=session_id)
    assert row.closed_at is not None
    assert row.close_reason == McpSession.CloseReason.CLIENT_DISCONNECT
    # and a POST for it now finds nothing
    assert await hub.deliver(session_id, {"jsonrpc": "2.0", "method": "x"}, user_id=user.pk) == (
        "unknown"
    )


async def test_another_users_message_is_not_delivered(token: tuple[Any, str]) -> None:
    user, raw = token
    stream, session_id = await open_stream(raw)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert await hub.deliver(session_id, ping, user_id=user.pk + 1000) == "unknown"
    assert await hub.deliver(session_id, ping, user_id=user.pk) == "accepted"
    assert await stream.event() == ("message", '{"jsonrpc":"2.0","id":1,"result":{}}')
    await stream.communicator.send_input({"type": "http.disconnect"})
    await stream.communicator.wait(10)


@pytest.mark.parametrize(
    ("token_given", "method", "status"), [(False, "GET", 401), (True, "POST", 405)]
)
async def test_refusals(
    token: tuple[Any, str], token_given: bool, method: str, status: int
) -> None:
    communicator = ApplicationCommunicator(
        SseConsumer.as_asgi(), scope(token[1] if token_given else None, method)
    )
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    assert start["status"] == status
    headers = dict(start["headers"])
    if status == 401:
        assert headers[b"www-authenticate"].startswith(b"Bearer")
    else:
        assert headers[b"allow"] == b"GET"
    body = await communicator.receive_output(10)
    assert json.loads(body["body"])["error"]
    await communicator.wait(10)
    assert await McpSession.objects.acount() == 0


async def test_a_database_outage_while_opening_is_a_503_not_a_500(
    token: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from django_mcp import store

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("sorry, too many clients already")

    monkeypatch.setattr(store, "record_open", unavailable)
    communicator = ApplicationCommunicator(SseConsumer.as_asgi(), scope(token[1]))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    assert start["status"] == 503
    assert dict(start["headers"])[b"retry-after"] == b"1"
    body = await communicator.receive_output(10)
    assert "retry" in json.loads(body["body"])["error"]
    await communicator.wait(10)
    assert len(hub) == 0
