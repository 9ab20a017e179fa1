"""Streamable HTTP in-process: routing of a session's messages, the response writer,
the endpoint through ASGI messages (session lifetime), the relay between workers
over the in-memory layer, and the stateless revision's pieces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator
from django.test import override_settings
from pydantic import Field

from django_mcp.models import ApiToken, McpSession
from django_mcp.protocol import envelope, jsonrpc
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import InvalidParams, UnsupportedProtocolVersion
from django_mcp.protocol.mrtr import InputRequired, Inputs
from django_mcp.registry import Registry
from django_mcp.security.principals import Principals
from django_mcp.transports import relay as relay_module
from django_mcp.transports.exchange import Call, ResponseWriter, Router
from django_mcp.transports.http import HttpRequest, accepts
from django_mcp.transports.hub import hub, worker_channel
from django_mcp.transports.relay import Remote, relay
from django_mcp.transports.stateless import check_headers, decode_header_value
from django_mcp.transports.streamable import StreamableEndpoint
from tests.testapp import mcp_tools

ACCEPT = b"application/json, text/event-stream"


# Accept --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "media", "expected"),
    [
        ("application/json, text/event-stream", "text/event-stream", True),
        ("application/json;q=0.9, text/event-stream;q=0.5", "application/json", True),
        ("*/*", "text/event-stream", True),
        ("text/*", "text/event-stream", True),
        ("text/*", "application/json", False),
        ("application/json", "text/event-stream", False),
        ("application/json, text/event-stream;q=0", "text/event-stream", False),
        (None, "application/json", False),
    ],
)
def test_accepts(header: str | None, media: str, expected: bool) -> None:
    assert accepts(header, media) is expected


# Routing ---------------------------------------------------------------------------------------


def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def test_messages_go_to_the_response_of_their_request() -> None:
    router = Router()
    standalone = router.listen()
    exchange = router.open([1, 2], batch=True)
    router.route({"jsonrpc": "2.0", "method": "notifications/progress"}, related=1)
    router.route({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    router.route({"jsonrpc": "2.0", "id": 1, "result": {}}, related=1)
    assert not exchange.ended and router.busy(2) and not router.busy(1)
    router.route({"jsonrpc": "2.0", "id": 2, "error": {"code": 1, "message": "x"}})
    assert exchange.ended
    assert [kind for kind, _ in drain(exchange.queue)] == ["message", "message", "message", "end"]
    assert drain(standalone.queue) == [
        ("message", {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    ]


def test_a_detached_exchange_sends_what_is_not_its_response_to_the_get_stream() -> None:
    router = Router()
    exchange = router.open([7])
    router.detach(exchange)
    standalone = router.listen()
    request = {"jsonrpc": "2.0", "id": 1, "method": "elicitation/create"}
    router.route(request, related=7)
    assert drain(standalone.queue) == [("message", request)]
    assert router.idle is False
    router.unlisten(standalone)
    assert router.idle is True


def test_a_cancelled_request_ends_its_exchange_as_cancelled() -> None:
    router = Router()
    exchange = router.open([3])
    router.cancelled(3)
    assert drain(exchange.queue) == [("end", "cancelled")]
    assert not router.busy(3)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def content_type(self) -> bytes:
        return dict(self.sent[0]["headers"])[b"content-type"]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


async def write(items: list[Any], **options: Any) -> tuple[str, Recorder]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    send = Recorder()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcome = await ResponseWriter(send, never, **options).run(queue)
    return outcome, send


async def test_only_responses_make_a_json_answer() -> None:
    reply = {"jsonrpc": "2.0", "id": 1, "result": {}}
    outcome, send = await write([("message", reply), ("end", None)])
    assert outcome == "answered"
    assert send.status == 200 and send.content_type == b"application/json"
    assert json.loads(send.body) == reply
    outcome, send = await write([("message", reply), ("end", None)], batch=True)
    assert json.loads(send.body) == [reply]


async def test_a_notification_first_makes_an_event_stream() -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
    reply = {"jsonrpc": "2.0", "id": 1, "result": {}}
    outcome, send = await write([("message", note), ("message", reply), ("end", None)])
    assert outcome == "answered"
    assert send.content_type.startswith(b"text/event-stream")
    assert send.body.count(b"event: message\n") == 2
    assert send.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_nothing_to_say_is_left_to_the_caller_unless_cancelled() -> None:
    outcome, send = await write([("end", None)])
    assert outcome == "empty" and send.sent == []
    outcome, send = await write([("end", "cancelled")])
    assert outcome == "answered"
    assert send.content_type.startswith(b"text/event-stream") and send.body == b""


async def test_a_silent_relay_ends_the_response() -> None:
    with override_settings(DJANGO_MCP={"HEARTBEAT_INTERVAL": 0.05}):
        outcome, send = await write([], liveness=0.1)
    assert outcome == "answered"
    assert b": ping" in send.body


# The endpoint -------------------------------------------------------------------------------


def scope(token: str | None, method: str = "POST", **headers: str) -> dict[str, Any]:
    raw = [(b"host", b"testserver"), (b"accept", ACCEPT), (b"content-type", b"application/json")]
    if token:
        raw.append((b"authorization", f"Bearer {token}".encode()))
    raw += [
        (name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()
    ]
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


async def exchange(
    token: str | None, body: Any = None, method: str = "POST", **headers: str
) -> tuple[int, dict[bytes, bytes], bytes]:
    communicator = ApplicationCommunicator(StreamableEndpoint(), scope(token, method, **headers))
    payload = json.dumps(body).encode() if body is not None else b""
    await communicator.send_input({"type": "http.request", "body": payload, "more_body": False})
    start = await communicator.receive_output(10)
    chunks = []
    while True:
        message = await communicator.receive_output(10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], dict(start["headers"]), b"".join(chunks)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t"}},
}


@pytest.fixture
async def token() -> AsyncIterator[tuple[Any, str]]:
    from django.contrib.auth import get_user_model

    user = await get_user_model().objects.acreate(username="streamable")
    _, raw = await sync_to_async(ApiToken.create)(user)
    yield user, raw


async def initialize(raw: str) -> str:
    status, headers, body = await exchange(raw, INITIALIZE)
    assert status == 200, body
    assert json.loads(body)["result"]["protocolVersion"] == "2025-06-18"
    return headers[b"mcp-session-id"].decode()


@pytest.mark.django_db(transaction=True)
async def test_initialize_records_the_session_and_delete_cancels_its_tools(
    token: tuple[Any, str],
) -> None:
    mcp_tools.SLOW_EVENTS.clear()
    user, raw = token
    session_id = await initialize(raw)
    row = await McpSession.objects.aget(pk=session_id)
    assert row.transport == McpSession.Transport.STREAMABLE_HTTP
    assert row.user_id == user.pk and row.client_name == "t"
    assert row.protocol_version == "2025-06-18"
    assert hub.get(session_id) is not None

    slow = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "slow"}}
    running = asyncio.ensure_future(exchange(raw, slow, mcp_session_id=session_id))
    async with asyncio.timeout(10):
        while mcp_tools.SLOW_EVENTS != ["started"]:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    status, _, _ = await exchange(raw, method="DELETE", mcp_session_id=session_id)
    assert status == 204
    status, _, body = await asyncio.wait_for(running, 10)
    assert status == 404 and b"Session not found" in body
    assert mcp_tools.SLOW_EVENTS == ["started", "cancelled"]
    row = await McpSession.objects.aget(pk=session_id)
    assert row.closed_at is not None
    assert row.close_reason == McpSession.CloseReason.CLIENT_DISCONNECT


@pytest.mark.django_db(transaction=True)
async def test_a_failed_initialize_leaves_no_session(token: tuple[Any, str]) -> None:
    _, raw = token
    bad = {**INITIALIZE, "params": {"capabilities": {}}}
    status, headers, body = await exchange(raw, bad)
    assert status == 200
    assert json.loads(body)["error"]["code"] == -32602
    assert b"mcp-session-id" not in headers
    assert not await McpSession.objects.filter(transport="streamable-http").aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_session_left_alone_expires_at_a_heartbeat(token: tuple[Any, str]) -> None:
    _, raw = token
    session_id = await initialize(raw)
    local = hub.get(session_id)
    assert local is not None
    await local.stream.heartbeat()
    assert hub.get(session_id) is not None
    with override_settings(DJANGO_MCP={"STREAMABLE_SESSION_TIMEOUT": 0}):
        await local.stream.heartbeat()
    assert hub.get(session_id) is None
    row = await McpSession.objects.aget(pk=session_id)
    assert row.close_reason == McpSession.CloseReason.IDLE_TIMEOUT


@pytest.mark.django_db(transaction=True)
async def test_revoking_the_token_ends_the_session(token: tuple[Any, str]) -> None:
    _, raw = token
    session_id = await initialize(raw)
    local = hub.get(session_id)
    assert local is not None
    await hub.invalidate(token_ids=[local.binding.token_id])
    assert hub.get(session_id) is None
    status, _, _ = await exchange(
        raw, {"jsonrpc": "2.0", "id": 3, "method": "ping"}, mcp_session_id=session_id
    )
    assert status == 404


@pytest.mark.django_db(transaction=True)
async def test_terminate_from_sync_code_ends_the_session(token: tuple[Any, str]) -> None:
    """As the admin's terminate action does: a sync caller, the row closed first."""
    from django_mcp import store

    _, raw = token
    session_id = await initialize(raw)
    assert await sync_to_async(store.terminate)([session_id]) == [session_id]
    assert hub.get(session_id) is None
    row = await McpSession.objects.aget(pk=session_id)
    assert row.close_reason == McpSession.CloseReason.TERMINATED


# The relay ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_call_relayed_over_the_layer_streams_back(
    token: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process plays both workers: it owns the session (the hub's worker id)
    and relays to it as another worker whose channel a test task reads."""
    user, raw = token
    session_id = await initialize(raw)
    monkeypatch.setattr(relay_module, "WORKER_ID", "0" * 12)
    layer = get_channel_layer()
    receiver_channel = worker_channel("0" * 12)

    async def receive_replies() -> None:
        while True:
            await relay._on_reply(layer, await layer.receive(receiver_channel))

    replies = asyncio.ensure_future(receive_replies())
    try:
        ping = Call("POST", body=json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping"}))
        remote = await relay.call(session_id, ping, credentials=None, user_id=user.pk)
        assert isinstance(remote, Remote)
        assert remote.streams
        items = [await asyncio.wait_for(remote.queue.get(), 5) for _ in range(2)]
        assert items == [("message", {"jsonrpc": "2.0", "id": 5, "result": {}}), ("end", None)]
        relay.forget(remote)

        assert (
            await relay.call(session_id, ping, credentials=None, user_id=user.pk + 1) == "unknown"
        )
        assert await relay.call(session_id, ping, credentials="nope") == "unauthenticated"

        deleted = await relay.call(session_id, Call("DELETE"), credentials=None, user_id=user.pk)
        assert isinstance(deleted, Remote) and deleted.answer.status == 204
        assert hub.get(session_id) is None
    finally:
        replies.cancel()


# The stateless revision -----------------------------------------------------------------------


def test_header_values_may_be_base64() -> None:
    assert decode_header_value("echo") == "echo"
    assert decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=") == "Hello, 世界"
    assert decode_header_value("=?base64?not base64?=") is None


def test_mcp_param_headers_must_match_the_arguments() -> None:
    registry = Registry()

    @registry.tool
    def query(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], sql: str
    ) -> str:
        return sql

    handlers = Handlers(registry)
    message = jsonrpc.Request(
        1, "tools/call", {"name": "query", "arguments": {"region": "eu-west", "sql": "x"}}
    )
    base = {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "query",
    }

    def request_with(**extra: str) -> HttpRequest:
        headers = {**base, **extra}
        raw = [(name.encode(), value.encode()) for name, value in headers.items()]
        return HttpRequest({"method": "POST", "headers": raw}, None, None)

    assert (
        check_headers(
            request_with(**{"mcp-param-region": "eu-west"}), message, "2026-07-28", handlers
        )
        is None
    )
    for wrong in ({}, {"mcp-param-region": "us-east"}):
        mismatch = check_headers(request_with(**wrong), message, "2026-07-28", handlers)
        assert mismatch is not None and mismatch.code == -32020
    duplicated = HttpRequest(
        {"method": "POST", "headers": [(b"mcp-method", b"tools/call")] * 2}, None, None
    )
    assert check_headers(duplicated, message, "2026-07-28", handlers) is not None


def test_the_principal_cache_forgets_revoked_tokens() -> None:
    from django_mcp.auth import AuthResult

    class User:
        pk = 1

    class Token:
        pk = 9
        expires_at = None

    principals = Principals()
    result = AuthResult(user=User(), token=Token(), credentials="Bearer x")
    principals.remember("fp", result)
    assert principals.get("fp") is result
    principals.invalidate({8}, set())
    assert principals.get("fp") is result
    principals.invalidate({9}, set())
    assert principals.get("fp") is None


def test_the_envelope_is_checked() -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
        "io.modelcontextprotocol/logLevel": "debug",
    }
    read = envelope.read_envelope({"_meta": meta})
    assert read.protocol_version == "2026-07-28" and read.log_level == "debug"
    with pytest.raises(InvalidParams):
        envelope.read_envelope({})
    with pytest.raises(InvalidParams):
        envelope.read_envelope({"_meta": {**meta, "io.modelcontextprotocol/logLevel": "loud"}})
    with pytest.raises(UnsupportedProtocolVersion) as raised:
        envelope.read_envelope(
            {"_meta": {**meta, "io.modelcontextprotocol/protocolVersion": "2025-11-25"}}
        )
    assert raised.value.data["supported"][0] == "2026-07-28"


@pytest.mark.django_db
def test_multi_round_trip_state_is_bound_and_signed() -> None:
    class User:
        pk = 3

    params: dict[str, Any] = {"name": "withdraw", "arguments": {"id": 1}}
    first = Inputs.for_request(User(), "tools/call", params)
    with pytest.raises(InputRequired) as asked:
        first.answer("elicitation/create", {"message": "Sure?"})
    [key] = asked.value.requests
    assert key == "elicitation/create#1"
    state = asked.value.state
    answered = {**params, "requestState": state, "inputResponses": {key: {"action": "accept"}}}
    again = Inputs.for_request(User(), "tools/call", answered)
    assert again.answer("elicitation/create", {"message": "Sure?"}) == {"action": "accept"}
    with pytest.raises(InputRequired) as second:
        again.answer("sampling/createMessage", {})
    assert list(second.value.requests) == ["sampling/createMessage#2"]
    # The next round keeps the first answer in the state.
    third = Inputs.for_request(User(), "tools/call", {**params, "requestState": second.value.state})
    assert third.answer("elicitation/create", {}) == {"action": "accept"}

    class Other:
        pk = 4

    for user, bad in ((Other(), answered), (User(), {**answered, "arguments": {"id": 2}})):
        with pytest.raises(InvalidParams):
            Inputs.for_request(user, "tools/call", bad)
