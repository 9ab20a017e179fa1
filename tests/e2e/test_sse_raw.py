"""The HTTP+SSE transport over raw HTTP (httpx) against a real daphne.

What a client sees on the wire: the endpoint event, 202s with answers on the
stream, headers, heartbeats, every error status, and streams that survive bad
input and never mix up two clients.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .helpers import WAIT, SseStream, bearer, open_stream

if TYPE_CHECKING:
    from .conftest import DaphneServer

ENDPOINT_RE = re.compile(r"^/mcp/messages/\?session_id=(?P<id>[A-Za-z0-9_\-]{43})(?:\.[0-9a-f]+)?$")


@pytest.fixture
async def stream(server: DaphneServer) -> AsyncIterator[SseStream]:
    assert server.token
    async with SseStream(server.base_url, bearer(server.token)) as opened:
        yield opened


@pytest.fixture
async def ready(stream: SseStream) -> SseStream:
    await stream.initialize()
    return stream


@pytest.fixture(scope="module")
def admin_token(server: DaphneServer) -> str:
    """A token of a second user (``admin`` from demo_setup)."""
    return server.create_token("admin")


async def http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        return await client.request(method, url, **kwargs)


# The stream ------------------------------------------------------------------------------


async def test_endpoint_event_comes_first_and_is_well_formed(stream: SseStream) -> None:
    assert stream.lines[0] == "event: endpoint"
    assert stream.lines[1].startswith("data: ")
    assert stream.events[0].name == "endpoint"
    match = ENDPOINT_RE.match(stream.endpoint)
    assert match, stream.endpoint
    assert stream.session_id.startswith(match["id"])


async def test_each_stream_gets_its_own_random_session(server: DaphneServer) -> None:
    assert server.token
    first = await open_stream(server.base_url, server.token)
    second = await open_stream(server.base_url, server.token)
    try:
        assert first.session_id != second.session_id
        first_random = first.session_id.split(".")[0]
        second_random = second.session_id.split(".")[0]
        assert first_random != second_random
        assert len(set(first_random) | set(second_random)) > 20  # not a counter
    finally:
        await first.close()
        await second.close()


async def test_sse_headers(stream: SseStream) -> None:
    headers = stream.response_headers
    assert headers is not None
    assert stream.status == 200
    assert headers["content-type"].split(";")[0] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"


async def test_post_is_accepted_and_answered_on_the_stream(stream: SseStream) -> None:
    response = await stream.post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
    )
    assert response.status_code == 202
    await stream.reply(1)
    [event] = [e for e in stream.events if e.name == "message" and '"id":1' in e.data]
    reply = event.json()
    assert reply["jsonrpc"] == "2.0"
    assert reply["result"]["protocolVersion"] == "2024-11-05"
    assert reply["result"]["serverInfo"]["name"] == "example-library"
    assert "tools" in reply["result"]["capabilities"]
    assert "Tools of a small lending library" in reply["result"]["instructions"]


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
async def test_version_negotiation(stream: SseStream, version: str) -> None:
    result = await stream.initialize(version)
    assert result["protocolVersion"] == version


async def test_unknown_version_gets_the_latest(stream: SseStream) -> None:
    result = await stream.initialize("2030-01-01")
    assert result["protocolVersion"] == "2025-11-25"


async def test_tools_over_raw_http(ready: SseStream) -> None:
    listed = await ready.result("tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"echo", "server_time", "books_search", "books_get", "lend_book"} <= names
    echoed = await ready.call("echo", {"message": "über ✓"})
    assert echoed["structuredContent"]["echo"] == "über ✓"
    assert echoed["structuredContent"]["transport"] == "sse"


async def test_heartbeat(daphne_server: Callable[..., DaphneServer]) -> None:
    fast = daphne_server(DJANGO_MCP_HEARTBEAT_INTERVAL=0.3)
    assert fast.token
    async with SseStream(fast.base_url, bearer(fast.token)) as stream:
        await stream.wait(lambda: len(stream.comments) >= 2)
        assert set(stream.comments) == {": ping"}
        assert stream.lines[0] == "event: endpoint"
        # Heartbeats are comments, so no SSE parser sees them as events.
        assert [e.name for e in stream.events] == ["endpoint"]
        # ... and the stream still works between them.
        assert (await stream.result("ping")) == {}


async def test_health(server: DaphneServer) -> None:
    response = await http("GET", server.url("/mcp/health"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["status"] == "ok"
    assert payload["tools"] >= 5
    assert isinstance(payload["sessions"], int)


# Authentication errors ---------------------------------------------------------------------


BAD_CREDENTIALS = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer mcp_not-a-real-token"}, id="bad-token"),
    pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
    pytest.param({"Authorization": "Basic ZGVtbzpkZW1v"}, id="basic"),
]


@pytest.mark.parametrize("headers", BAD_CREDENTIALS)
async def test_stream_without_valid_credentials_is_401(
    server: DaphneServer, headers: dict[str, str]
) -> None:
    response = await http("GET", server.sse_url, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


@pytest.mark.parametrize("headers", BAD_CREDENTIALS)
async def test_post_without_valid_credentials_is_401(
    stream: SseStream, headers: dict[str, str]
) -> None:
    assert stream._client is not None
    response = await stream._client.post(
        stream.endpoint,
        content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()
    # The refused message never reached the session.
    assert (await stream.result("ping")) == {}
    assert stream.replies_to(1) == []


# Request errors ----------------------------------------------------------------------------


async def test_missing_session_id_is_400(server: DaphneServer) -> None:
    assert server.token
    response = await http(
        "POST",
        server.url("/mcp/messages/"),
        content=b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}',
        headers={"Content-Type": "application/json", **bearer(server.token)},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "Missing session_id query parameter."}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"', id="truncated"),
        pytest.param(b"\xff\xfe{}", id="invalid-utf8"),
        pytest.param(b"[" * 65 + b"]" * 65, id="too-deep"),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": NaN}}', id="nan"
        ),
    ],
)
async def test_body_not_json_is_400_parse_error(stream: SseStream, body: bytes) -> None:
    response = await stream.post(body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["jsonrpc"] == "2.0"
    assert payload["id"] is None
    assert payload["error"]["code"] == -32700
    assert payload["error"]["message"].startswith("Parse error")
    assert (await stream.result("ping")) == {}


async def test_unknown_session_is_404(stream: SseStream) -> None:
    for session_id in ("nope", stream.session_id[:-1] + "x", "x" * 43):
        response = await stream.post(
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            url=f"/mcp/messages/?session_id={session_id}",
        )
        assert response.status_code == 404, session_id
        assert response.json() == {"error": "Unknown or closed session: open a new stream."}


async def test_session_of_another_user_is_404(stream: SseStream, admin_token: str) -> None:
    response = await stream.post(
        {"jsonrpc": "2.0", "id": "intruder", "method": "ping"}, headers=bearer(admin_token)
    )
    assert response.status_code == 404
    assert response.json() == {"error": "Unknown or closed session: open a new stream."}
    assert (await stream.result("ping")) == {}
    assert stream.replies_to("intruder") == []


async def test_post_to_the_stream_url_is_405(server: DaphneServer) -> None:
    assert server.token
    response = await http(
        "POST",
        server.sse_url,
        content=b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}',
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **bearer(server.token),
        },
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]


async def test_oversize_body_is_413(stream: SseStream) -> None:
    big = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * (4 * 1024 * 1024)}}
    )
    response = await stream.post(big)
    assert response.status_code == 413
    assert "exceeds" in response.json()["error"]
    assert (await stream.result("ping")) == {}
    assert stream.replies_to(1) == []


async def test_malformed_multipart_body_gets_a_json_answer(stream: SseStream) -> None:
    # Twisted would parse this itself and answer a bare 400; django_mcp turns
    # that parse off under daphne, so the application answers.
    assert stream._client is not None
    response = await stream._client.post(
        stream.endpoint,
        content=b"--x\r\nnot a part",
        headers={"Content-Type": "multipart/form-data; boundary=x", **stream.headers},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert (await stream.result("ping")) == {}


async def test_oversize_chunked_body_is_refused(stream: SseStream) -> None:
    # Without a Content-Length the size is only known while reading.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "'
        for _ in range(5):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    assert stream._client is not None
    response = await stream._client.post(
        stream.endpoint,
        content=chunks(),
        headers={"Content-Type": "application/json", **stream.headers},
    )
    assert response.status_code == 413
    assert (await stream.result("ping")) == {}


async def test_closed_session_is_404(server: DaphneServer) -> None:
    assert server.token
    stream = await open_stream(server.base_url, server.token)
    await stream.initialize()
    endpoint = stream.endpoint
    await stream.close()
    status = await eventually_status(server, endpoint, 404)
    assert status == 404


async def eventually_status(server: DaphneServer, endpoint: str, wanted: int) -> int:
    """POST a ping until the answer is ``wanted`` (the server learns of a closed
    stream asynchronously); return the last status."""
    assert server.token
    status = 0
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
        for _ in range(100):
            response = await client.post(
                endpoint,
                content=b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
                headers={"Content-Type": "application/json", **bearer(server.token)},
            )
            status = response.status_code
            assert status in (202, wanted), response.text
            if status == wanted:
                break
            await asyncio.sleep(0.1)
    return status


# Bad input never kills the stream ------------------------------------------------------------


BAD_REQUESTS: list[Any] = [
    # (body, expected reply id or None for "an error with id null", code)
    ({"jsonrpc": "2.0", "id": "p-list", "method": "ping", "params": [1, 2]}, "p-list", -32600),
    ({"jsonrpc": "2.0", "id": "p-str", "method": "tools/list", "params": "x"}, "p-str", -32600),
    ({"jsonrpc": "2.0", "id": "m-num", "method": 42}, "m-num", -32600),
    ({"jsonrpc": "2.0", "id": "m-empty", "method": ""}, "m-empty", -32600),
    ({"jsonrpc": "1.0", "id": "v1", "method": "ping"}, "v1", -32600),
    ({"id": "no-version", "method": "ping"}, "no-version", -32600),
    ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None, -32600),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None, -32600),
    ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, None, -32600),
    ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, None, -32600),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None, -32600),
    ({"jsonrpc": "2.0", "id": "unknown", "method": "no/such/method"}, "unknown", -32601),
    ({"jsonrpc": "2.0", "id": "disc", "method": "server/discover"}, "disc", -32601),
    ({"jsonrpc": "2.0", "id": "n1", "method": "notifications/initialized"}, "n1", -32601),
    ({"jsonrpc": "2.0", "id": "n2", "method": "notifications/cancelled"}, "n2", -32601),
    (
        {"jsonrpc": "2.0", "id": "t1", "method": "tools/call", "params": {"name": 5}},
        "t1",
        -32602,
    ),
    (
        {"jsonrpc": "2.0", "id": "t2", "method": "tools/call", "params": {"name": "nope"}},
        "t2",
        -32602,
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": "t3",
            "method": "tools/call",
            "params": {"name": "books_get", "arguments": {"id": "not a number"}},
        },
        "t3",
        -32602,
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": "t4",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": [1, 2]},
        },
        "t4",
        -32602,
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": "t5",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "x", "extra": 1}},
        },
        "t5",
        -32602,
    ),
    (
        {"jsonrpc": "2.0", "id": "c1", "method": "tools/list", "params": {"cursor": "??"}},
        "c1",
        -32602,
    ),
    ({"jsonrpc": "2.0", "id": "c2", "method": "tools/list", "params": {"cursor": 7}}, "c2", -32602),
    ({"jsonrpc": "2.0", "id": "init2", "method": "initialize", "params": {}}, "init2", -32600),
    ('"a string"', None, -32600),
    (12345, None, -32600),
    (None, None, -32600),
    ({}, None, -32600),
    ({"jsonrpc": "2.0", "result": {}}, None, -32600),
    ([], None, -32600),
]


async def test_bad_input_gets_errors_and_the_stream_lives(ready: SseStream) -> None:
    for body, reply_id, code in BAD_REQUESTS:
        anonymous_before = len(ready.replies_to(None))
        response = await ready.post(body)
        assert response.status_code == 202, (body, response.status_code, response.text)
        if reply_id is None:
            await ready.wait(lambda before=anonymous_before: len(ready.replies_to(None)) > before)
            reply = ready.replies_to(None)[-1]
        else:
            reply = await ready.reply(reply_id)
        assert reply["error"]["code"] == code, (body, reply)
        assert reply["error"]["message"], reply
        assert "Traceback" not in reply["error"]["message"]
    assert (await ready.result("ping")) == {}
    assert not ready.ended


async def test_notifications_without_ids_get_no_reply(ready: SseStream) -> None:
    for method in ("notifications/initialized", "notifications/unknown", "notifications/cancelled"):
        await ready.notify(method, {"requestId": "never-sent"})
    await ready.notify("notifications/progress")
    count = len(ready.replies())
    assert (await ready.result("ping")) == {}
    assert len(ready.replies()) == count + 1


async def test_huge_ids_are_echoed(ready: SseStream) -> None:
    for request_id in (10**30, -(10**30), "i" * 10_000, 0, ""):
        reply = await ready.request("ping", request_id=request_id)
        assert reply == {"jsonrpc": "2.0", "id": request_id, "result": {}}
    assert (await ready.result("ping")) == {}


async def test_batch_of_junk_and_good_requests(ready: SseStream) -> None:
    response = await ready.post(
        [
            {"jsonrpc": "2.0", "id": "b1", "method": "ping"},
            1,
            "x",
            {"jsonrpc": "2.0", "id": "b2", "method": "nope"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": "b3",
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "in a batch"}},
            },
        ]
    )
    assert response.status_code == 202
    await ready.wait(lambda: any(isinstance(m, list) for m in ready.messages()))
    [batch] = [m for m in ready.messages() if isinstance(m, list)]
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for reply in batch:
        by_id.setdefault(reply["id"], []).append(reply)
    assert by_id["b1"][0]["result"] == {}
    assert by_id["b2"][0]["error"]["code"] == -32601
    assert by_id["b3"][0]["result"]["structuredContent"]["echo"] == "in a batch"
    assert [r["error"]["code"] for r in by_id[None]] == [-32600, -32600]
    assert (await ready.result("ping")) == {}


async def test_tool_failures_are_results_not_crashes(ready: SseStream) -> None:
    missing = await ready.call("books_get", {"id": 999_999})
    assert missing["isError"] is True
    assert "Traceback" not in json.dumps(missing)
    zone = await ready.call("server_time", {"timezone": "Mars/Olympus_Mons"})
    assert zone["isError"] is True
    assert zone["content"][0]["text"] == (
        "Unknown time zone 'Mars/Olympus_Mons': use an IANA name such as 'Europe/Paris'."
    )
    zone = await ready.call("server_time", {"timezone": "../../etc/passwd"})
    assert zone["isError"] is True
    assert (await ready.result("ping")) == {}


# Isolation and concurrency -----------------------------------------------------------------


async def test_two_clients_never_see_each_others_messages(
    server: DaphneServer, admin_token: str
) -> None:
    assert server.token
    alice = await open_stream(server.base_url, server.token)
    bob = await open_stream(server.base_url, admin_token)
    carol = await open_stream(server.base_url, server.token)  # same user, other session
    streams = {"alice": alice, "bob": bob, "carol": carol}
    try:
        await asyncio.gather(*(s.initialize() for s in streams.values()))

        async def chatter(name: str, stream: SseStream) -> None:
            for i in range(8):
                marker = f"{name}-marker-{i}"
                result = await stream.call("echo", {"message": marker})
                assert result["structuredContent"]["echo"] == marker
                await stream.request("ping", request_id=f"{name}-ping-{i}")

        await asyncio.gather(*(chatter(name, s) for name, s in streams.items()))
        for name, stream in streams.items():
            raw = "\n".join(event.data for event in stream.events[1:])
            for other in streams:
                if other != name:
                    assert f"{other}-marker" not in raw
                    assert f"{other}-ping" not in raw
            echoed = [
                reply["result"]["structuredContent"]["echo"]
                for reply in stream.replies()
                if "structuredContent" in reply.get("result", {})
            ]
            assert echoed == [f"{name}-marker-{i}" for i in range(8)]
            pings = [r["id"] for r in stream.replies() if str(r["id"]).startswith(name)]
            assert pings == [f"{name}-ping-{i}" for i in range(8)]
            assert len(stream.replies()) == 1 + 8 + 8  # initialize, echoes, pings
    finally:
        for stream in streams.values():
            await stream.close()


async def test_ten_concurrent_calls_on_one_session(ready: SseStream) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("echo", {"message": f"concurrent-{i}"}) for i in range(4)
    ]
    calls += [("server_time", {"timezone": zone}) for zone in ("UTC", "Europe/Paris", "Asia/Tokyo")]
    calls += [("books_search", {"query": "Sagan"}), ("books_get", {"id": 1}), ("ping", {})]
    assert len(calls) == 10

    async def one(index: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == "ping":
            return await ready.request("ping", request_id=f"call-{index}")
        return await ready.request(
            "tools/call", {"name": name, "arguments": arguments}, request_id=f"call-{index}"
        )

    replies = await asyncio.gather(*(one(i, name, args) for i, (name, args) in enumerate(calls)))
    assert [reply["id"] for reply in replies] == [f"call-{i}" for i in range(10)]
    assert all("result" in reply for reply in replies), replies
    for i in range(4):
        assert replies[i]["result"]["structuredContent"]["echo"] == f"concurrent-{i}"
    assert replies[5]["result"]["structuredContent"]["timezone"] == "Europe/Paris"
    assert replies[5]["result"]["structuredContent"]["local"].endswith(("+01:00", "+02:00"))
    assert replies[6]["result"]["structuredContent"]["local"].endswith("+09:00")
    found = replies[7]["result"]["structuredContent"]["results"]
    assert {book["title"] for book in found} == {"Cosmos", "Pale Blue Dot"}
    assert replies[8]["result"]["structuredContent"]["id"] == 1
    assert replies[9]["result"] == {}


async def test_posts_are_not_held_up_by_a_running_tool(ready: SseStream) -> None:
    # Fire ten requests without waiting for any answer: every POST is a quick 202.
    bodies = [
        {
            "jsonrpc": "2.0",
            "id": f"fire-{i}",
            "method": "tools/call",
            "params": {"name": "books_search", "arguments": {"query": ""}},
        }
        for i in range(10)
    ]
    responses = await asyncio.gather(*(ready.post(body) for body in bodies))
    assert [r.status_code for r in responses] == [202] * 10
    for i in range(10):
        reply = await ready.reply(f"fire-{i}")
        assert reply["result"]["structuredContent"]["results"]


# Disconnect cleanup ------------------------------------------------------------------------


async def test_disconnect_closes_the_session(server: DaphneServer) -> None:
    assert server.token
    stream = await open_stream(server.base_url, server.token)
    await stream.initialize("2025-06-18")
    session_id = stream.session_id
    await stream.close()
    assert await eventually_status(server, stream.endpoint, 404) == 404
    row = await asyncio.to_thread(session_row, server, session_id)
    assert row["protocol_version"] == "2025-06-18"
    assert row["client_name"] == "raw-e2e"
    assert row["closed"] is True
    assert row["close_reason"] == "client-disconnect"
    assert row["user"] == "demo"


def session_row(server: DaphneServer, session_id: str) -> dict[str, Any]:
    code = (
        "import json; from django_mcp.models import McpSession; "
        f"s = McpSession.objects.get(pk={session_id!r}); "
        "print(json.dumps({'closed': s.closed_at is not None, 'close_reason': s.close_reason, "
        "'protocol_version': s.protocol_version, 'client_name': s.client_name, "
        "'user': s.user.username}))"
    )
    row: dict[str, Any] = {}
    for _ in range(10):
        out = server.manage("shell", "-c", code).stdout
        row = json.loads(out.strip().splitlines()[-1])
        if row["closed"]:
            break
    return row


async def test_concurrent_loans_never_lend_more_copies_than_exist(ready: SseStream) -> None:
    found = await ready.call("books_search", {"query": "SPQR"})
    [book] = found["structuredContent"]["results"]
    assert book["copies"] == 2 and book["available"] == 2
    replies = await asyncio.gather(
        *(
            ready.request(
                "tools/call",
                {"name": "lend_book", "arguments": {"book_id": book["id"], "days": 7}},
                request_id=f"lend-{i}",
            )
            for i in range(4)
        )
    )
    results = [reply["result"] for reply in replies]
    lent = [r for r in results if not r.get("isError")]
    refused = [r for r in results if r.get("isError")]
    assert len(lent) == 2
    assert {r["structuredContent"]["book"] for r in lent} == {"SPQR"}
    assert len({r["structuredContent"]["loan_id"] for r in lent}) == 2
    assert [r["content"][0]["text"] for r in refused] == ["No copy of 'SPQR' is available."] * 2
    after = await ready.call("books_get", {"id": book["id"]})
    assert after["structuredContent"]["available"] == 0


async def test_odd_http_requests_never_500(stream: SseStream, server: DaphneServer) -> None:
    assert server.token
    auth = bearer(server.token)
    ping = b'{"jsonrpc": "2.0", "id": "odd", "method": "ping"}'
    endpoint = stream.endpoint
    cases: list[tuple[str, str, dict[str, str], bytes, int]] = [
        ("POST", "/mcp/messages/?session_id=%00", auth, ping, 404),
        ("POST", "/mcp/messages/?session_id=" + "s" * 5000, auth, ping, 404),
        ("POST", "/mcp/messages/?session_id=", auth, ping, 400),
        ("PUT", endpoint, auth, ping, 405),
        ("DELETE", endpoint, auth, b"", 405),
        ("GET", endpoint, auth, b"", 405),
        ("DELETE", "/mcp/sse", auth, b"", 405),
        ("PUT", "/mcp/sse", {}, b"", 405),
        ("GET", "/mcp/sse?token=" + server.token, {}, b"", 401),
        ("GET", "/mcp/sse?access_token=" + server.token, {}, b"", 401),
        ("GET", "/mcp/sse", {"Authorization": "Bearer " + "x" * 8000}, b"", 401),
        ("GET", "/mcp/sse", {"Authorization": "Token abc"}, b"", 401),
        ("GET", "/mcp/sse", {"Cookie": "sessionid=garbage; csrftoken=x"}, b"", 401),
        ("POST", endpoint, {**auth, "Content-Type": "text/plain"}, ping, 202),
        ("POST", endpoint + "&session_id=other", auth, ping, 202),
    ]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client:
        for method, path, headers, body, status in cases:
            response = await client.request(method, path, headers=headers, content=body)
            assert response.status_code == status, (method, path[:80], response.text[:300])
    assert (await stream.request("ping", request_id="after-odd")) == {
        "jsonrpc": "2.0",
        "id": "after-odd",
        "result": {},
    }
