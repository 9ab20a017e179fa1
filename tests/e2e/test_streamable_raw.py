"""Streamable HTTP over raw HTTP (httpx) against a real daphne: exact statuses and bodies.

Sessions (2025-03-26 to 2025-11-25): initialize, JSON and event-stream answers,
the GET stream, DELETE, batches per version, and every refusal. The stateless
2026-07-28 revision: headers checked against the body, versions, notifications.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from .conftest import DaphneLauncher, DaphneServer
from .shttp import (
    MODERN,
    WAIT,
    GetStream,
    StreamableClient,
    initialize_request,
    modern_meta,
    notification,
    request,
)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{43}\.[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """A server of this module's own: its tests import, lend and withdraw books."""
    launcher = DaphneLauncher(tmp_path_factory, "daphne-streamable")
    try:
        yield launcher.start()
    finally:
        launcher.stop_all()


@pytest.fixture
async def client(server: DaphneServer) -> AsyncIterator[StreamableClient]:
    async with StreamableClient(server.base_url, server.token) as opened:
        yield opened


@pytest.fixture
async def session(client: StreamableClient) -> StreamableClient:
    await client.initialize()
    return client


@pytest.fixture(scope="module")
def admin_token(server: DaphneServer) -> str:
    return server.create_token("admin")


def echo(request_id: Any, message: str = "hi") -> dict[str, Any]:
    return request(request_id, "tools/call", {"name": "echo", "arguments": {"message": message}})


# Sessions ----------------------------------------------------------------------------------


async def test_initialize_creates_a_session(client: StreamableClient) -> None:
    answer = await client.post(initialize_request(1))
    assert answer.status == 200
    assert answer.content_type == "application/json"
    assert SESSION_ID_RE.match(answer.headers["mcp-session-id"])
    result = answer.json()["result"]
    assert result["protocolVersion"] == "2025-11-25"
    assert result["serverInfo"]["name"] == "example-library"
    assert "resultType" not in result


@pytest.mark.parametrize("path", ["/mcp", "/mcp/"])
async def test_both_paths_serve_the_endpoint(client: StreamableClient, path: str) -> None:
    client.path = path
    answer = await client.post(initialize_request(1, "2025-03-26"))
    assert answer.status == 200, answer.text
    assert answer.json()["result"]["protocolVersion"] == "2025-03-26"


async def test_requests_are_answered_as_json(session: StreamableClient) -> None:
    answer = await session.post(echo(7, "hello"))
    assert answer.status == 200
    assert answer.content_type == "application/json"
    assert answer.headers["mcp-session-id"] == session.session_id
    reply = answer.json()
    assert reply["id"] == 7
    assert reply["result"]["structuredContent"]["echo"] == "hello"
    assert reply["result"]["structuredContent"]["transport"] == "streamable-http"


async def test_notifications_and_responses_get_202_without_body(session: StreamableClient) -> None:
    for body in (
        notification("notifications/cancelled", {"requestId": 99}),
        {"jsonrpc": "2.0", "id": 12345, "result": {}},
    ):
        answer = await session.post(body)
        assert answer.status == 202
        assert answer.text == ""


async def test_progress_comes_on_an_event_stream_before_the_response(
    server: DaphneServer, admin_token: str
) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        await admin.initialize()
        answer = await admin.post(
            request(
                "import",
                "tools/call",
                {
                    "name": "import_catalogue",
                    "arguments": {"count": 3},
                    "_meta": {"progressToken": "p"},
                },
            )
        )
    assert answer.status == 200
    assert answer.streamed
    assert answer.headers["x-accel-buffering"] == "no"
    messages = answer.messages
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert all(p["progressToken"] == "p" and p["total"] == 3 for p in progress)
    assert messages[-1]["id"] == "import"
    assert messages[-1]["result"]["structuredContent"]["imported"] == 3
    assert sum(1 for m in messages if "id" in m and "method" not in m) == 1


async def test_a_second_user_cannot_use_the_session(
    server: DaphneServer, session: StreamableClient, admin_token: str
) -> None:
    stolen = await session.post(echo(1), Authorization=f"Bearer {admin_token}")
    assert stolen.status == 404
    assert stolen.json()["error"]["message"].startswith("Session not found")
    assert (await session.post(echo(2))).status == 200


async def test_missing_session_id_is_400_and_unknown_is_404(client: StreamableClient) -> None:
    missing = await client.post(echo(1))
    assert missing.status == 400
    assert "Mcp-Session-Id" in missing.json()["error"]["message"]
    for unknown in ("nope", "A" * 43 + ".0123456789ab"):
        client.session_id = unknown
        answer = await client.post(echo(1))
        assert answer.status == 404, unknown
        assert answer.json()["error"]["code"] == -32600


async def test_delete_ends_the_session(server: DaphneServer, session: StreamableClient) -> None:
    deleted = await session.delete()
    assert deleted.status == 204
    assert (await session.post(echo(1))).status == 404
    assert (await session.delete()).status == 404
    closed = server.manage(
        "shell",
        "-c",
        "from django_mcp.models import McpSession; "
        f"row = McpSession.objects.get(pk='{session.session_id}'); "
        "print(row.transport, row.closed_at is not None, row.close_reason, row.client_name)",
    )
    last = closed.stdout.strip().splitlines()[-1]
    assert last.split() == ["streamable-http", "True", "client-disconnect", "raw-e2e"]


async def test_accept_and_content_type_are_checked(session: StreamableClient) -> None:
    json_only = await session.post(echo(1), Accept="application/json")
    assert json_only.status == 406
    wildcard = await session.post(echo(2), Accept="*/*")
    assert wildcard.status == 200
    html = await session.post(echo(3), Accept="text/html")
    assert html.status == 406
    refused = await session.post(echo(4), Accept="application/json, text/event-stream;q=0")
    assert refused.status == 406
    text = await session.send("POST", raw=b"{}", headers=session.headers(Content_Type="text/plain"))
    assert text.status == 415
    get_json = await session.send(
        "GET", headers=session.headers(Accept="application/json", Content_Type=None)
    )
    assert get_json.status == 406


async def test_bad_protocol_version_header_is_400(session: StreamableClient) -> None:
    answer = await session.post(echo(1), MCP_Protocol_Version="1999-01-01")
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == -32022
    assert MODERN in error["data"]["supported"] and "2025-11-25" in error["data"]["supported"]
    assert (await session.post(echo(2), MCP_Protocol_Version="2025-06-18")).status == 200
    assert (await session.post(echo(3), MCP_Protocol_Version=None)).status == 200


async def test_bad_bodies(session: StreamableClient) -> None:
    parse = await session.send("POST", raw=b"{nope", headers=session.headers())
    assert parse.status == 400
    assert parse.json()["error"]["code"] == -32700
    invalid = await session.post({"jsonrpc": "1.0", "id": 1, "method": "ping"})
    assert invalid.status == 400
    assert invalid.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": 'Invalid request: "jsonrpc" must be "2.0"'},
    }
    unknown = await session.post(request(5, "no/such"))
    assert unknown.status == 200
    assert unknown.json()["error"]["code"] == -32601


async def test_other_methods_are_405(client: StreamableClient) -> None:
    for method in ("PUT", "PATCH"):
        answer = await client.send(method, raw=b"{}", headers=client.headers())
        assert answer.status == 405
        assert answer.headers["allow"] == "GET, POST, DELETE"


async def test_get_and_delete_without_session_are_400(client: StreamableClient) -> None:
    get = await client.send("GET", headers=client.headers(Content_Type=None))
    assert get.status == 400
    delete = await client.send("DELETE", headers=client.headers())
    assert delete.status == 400


async def test_the_get_stream_carries_messages_of_no_request(
    server: DaphneServer, admin_token: str
) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        await admin.initialize()
        subscribed = await admin.call(1, "resources/subscribe", {"uri": "library://books/2"})
        assert subscribed["result"] == {}
        async with GetStream(admin) as listening:
            assert listening.status == 200
            assert listening.headers is not None
            assert listening.headers["content-type"].startswith("text/event-stream")
            lent = await admin.call(
                2, "tools/call", {"name": "lend_book", "arguments": {"book_id": 2}}
            )
            assert lent["result"]["isError"] is False, lent
            await listening.wait_for(lambda s: len(s.events) >= 1)
            update = listening.events[0].json()
            assert update == {
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": {"uri": "library://books/2"},
            }
            # A second GET takes over; the first one ends.
            async with GetStream(admin) as second:
                assert second.status == 200
                await asyncio.wait_for(listening.ended.wait(), WAIT)


async def test_a_batch_is_answered_as_an_array_in_2025_03_26(client: StreamableClient) -> None:
    await client.initialize("2025-03-26")
    answer = await client.post(
        [echo(1, "a"), notification("notifications/progress", {}), {"id": 2}, echo(3, "c")]
    )
    assert answer.status == 200
    assert answer.content_type == "application/json"
    replies = {reply["id"]: reply for reply in answer.json()}
    assert set(replies) == {1, 2, 3}
    assert replies[1]["result"]["structuredContent"]["echo"] == "a"
    assert replies[2]["error"]["code"] == -32600
    assert replies[3]["result"]["structuredContent"]["echo"] == "c"
    only_notifications = await client.post([notification("notifications/initialized")])
    assert only_notifications.status == 202


async def test_a_batch_is_refused_from_2025_06_18(session: StreamableClient) -> None:
    answer = await session.post([echo(1)])
    assert answer.status == 400
    assert "batch" in answer.json()["error"]["message"]
    older = await session.post([echo(2)], MCP_Protocol_Version="2025-03-26")
    assert older.status == 200
    assert [reply["id"] for reply in older.json()] == [2]


async def test_a_request_id_in_use_is_refused(server: DaphneServer, admin_token: str) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        await admin.initialize()
        slow = asyncio.ensure_future(
            admin.post(
                request(1, "tools/call", {"name": "import_catalogue", "arguments": {"count": 30}})
            )
        )
        await asyncio.sleep(0.5)
        again = await admin.post(echo(1))
        assert again.status == 400
        assert "already in use" in again.json()["error"]["message"]
        assert (await slow).reply["result"]["structuredContent"]["imported"] == 30


async def test_cancelling_ends_the_response_stream(server: DaphneServer, admin_token: str) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        await admin.initialize()
        slow = asyncio.ensure_future(
            admin.post(
                request(9, "tools/call", {"name": "import_catalogue", "arguments": {"count": 200}})
            )
        )
        await asyncio.sleep(0.5)
        cancel = await admin.post(notification("notifications/cancelled", {"requestId": 9}))
        assert cancel.status == 202
        answer = await asyncio.wait_for(slow, WAIT)
        assert answer.status == 200
        assert answer.streamed
        assert not [m for m in answer.messages if m.get("id") == 9]


# Authentication and screening -----------------------------------------------------------


async def test_no_or_bad_credentials_are_401_with_a_challenge(server: DaphneServer) -> None:
    for token in (None, "not-a-token"):
        async with StreamableClient(server.base_url, token) as anonymous:
            answer = await anonymous.post(initialize_request())
            assert answer.status == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "resource_metadata=" in answer.headers["www-authenticate"]
            anonymous.session_id = "A" * 43 + ".0123456789ab"
            assert (await anonymous.post(echo(1))).status == 401


async def test_a_session_rejects_bad_credentials_with_401(session: StreamableClient) -> None:
    answer = await session.post(echo(1), Authorization="Bearer mcp_wrong")
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_host_and_origin_are_screened(server: DaphneServer, client: StreamableClient) -> None:
    host = await client.post(initialize_request(), Host="evil.example")
    assert host.status == 421
    origin = await client.post(initialize_request(), Origin="https://evil.example")
    assert origin.status == 403
    assert "origin" in origin.json()["error"].lower()
    own = await client.post(initialize_request(), Origin=server.base_url)
    assert own.status == 200


async def test_a_body_over_the_limit_is_413(session: StreamableClient) -> None:
    huge = (
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'
        + b"a" * (5 * 1024 * 1024)
        + b'"}}'
    )
    answer = await session.send("POST", raw=huge, headers=session.headers())
    assert answer.status == 413


# The stateless revision (2026-07-28) -------------------------------------------------------


def modern(
    request_id: Any, method: str, params: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    return request(request_id, method, {**(params or {}), "_meta": modern_meta(**meta)})


def modern_headers(method: str, name: str | None = None) -> dict[str, str | None]:
    headers: dict[str, str | None] = {"MCP_Protocol_Version": MODERN, "Mcp_Method": method}
    if name is not None:
        headers["Mcp_Name"] = name
    return headers


async def test_stateless_discover_and_call(client: StreamableClient) -> None:
    discover = await client.post(modern(1, "server/discover"), **modern_headers("server/discover"))
    assert discover.status == 200
    assert "mcp-session-id" not in discover.headers
    result = discover.json()["result"]
    assert result["supportedVersions"][0] == MODERN
    assert result["resultType"] == "complete"
    assert result["ttlMs"] == 0 and result["cacheScope"] == "private"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "example-library"
    assert "listChanged" not in result["capabilities"]["tools"]

    called = await client.post(
        modern(2, "tools/call", {"name": "echo", "arguments": {"message": "stateless"}}),
        **modern_headers("tools/call", "echo"),
    )
    assert called.status == 200
    reply = called.json()["result"]
    assert reply["resultType"] == "complete"
    assert reply["structuredContent"]["echo"] == "stateless"


async def test_stateless_header_mismatches_are_400(client: StreamableClient) -> None:
    body = modern(1, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    cases: list[dict[str, str | None]] = [
        modern_headers("tools/list", "echo"),
        modern_headers("tools/call", "other"),
        modern_headers("tools/call", None),
        {**modern_headers("tools/call", "echo"), "MCP_Protocol_Version": None},
    ]
    for headers in cases:
        answer = await client.post(body, **headers)
        assert answer.status == 400, headers
        assert answer.json()["error"]["code"] == -32020, headers
    encoded = await client.post(body, **modern_headers("tools/call", "=?base64?ZWNobw==?="))
    assert encoded.status == 200


async def test_stateless_version_and_envelope_errors(client: StreamableClient) -> None:
    old = modern(1, "tools/list", **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
    answer = await client.post(old, MCP_Protocol_Version="2099-01-01", Mcp_Method="tools/list")
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "2099-01-01"
    bare = await client.post(request(2, "tools/list", {}), **modern_headers("tools/list"))
    assert bare.status == 400
    assert bare.json()["error"]["code"] == -32602
    unknown = await client.post(modern(3, "ping"), **modern_headers("ping"))
    assert unknown.status == 404
    assert unknown.json()["error"]["code"] == -32601
    batch = await client.post([modern(4, "tools/list")], **modern_headers("tools/list"))
    assert batch.status == 400


async def test_stateless_notification_is_202_and_get_delete_are_405(
    client: StreamableClient,
) -> None:
    answer = await client.post(
        notification("notifications/cancelled", {"requestId": 1}),
        MCP_Protocol_Version=MODERN,
    )
    assert answer.status == 202
    for method in ("GET", "DELETE"):
        refused = await client.send(
            method, headers=client.headers(MCP_Protocol_Version=MODERN, Content_Type=None)
        )
        assert refused.status == 405, method
        assert refused.headers["allow"] == "POST"


async def test_stateless_requests_need_credentials(server: DaphneServer) -> None:
    async with StreamableClient(server.base_url, None) as anonymous:
        answer = await anonymous.post(modern(1, "tools/list"), **modern_headers("tools/list"))
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_stateless_logs_only_when_asked(server: DaphneServer, admin_token: str) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        params = {"name": "import_catalogue", "arguments": {"count": 1}}
        quiet = await admin.post(
            modern(1, "tools/call", params), **modern_headers("tools/call", "import_catalogue")
        )
        assert quiet.status == 200
        assert not [m for m in quiet.messages if m.get("method") == "notifications/message"]
        loud = await admin.post(
            modern(2, "tools/call", params, **{"io.modelcontextprotocol/logLevel": "info"}),
            **modern_headers("tools/call", "import_catalogue"),
        )
        assert loud.streamed
        logs = [m for m in loud.messages if m.get("method") == "notifications/message"]
        assert [log["params"]["level"] for log in logs] == ["info", "info"]
        assert loud.reply["result"]["structuredContent"]["imported"] == 1


async def test_stateless_elicitation_is_a_multi_round_trip(
    server: DaphneServer, admin_token: str
) -> None:
    capabilities = {"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    async with StreamableClient(server.base_url, admin_token) as admin:
        headers = modern_headers("tools/call", "withdraw_book")
        params = {"name": "withdraw_book", "arguments": {"book_id": 3}}
        first = await admin.post(modern(1, "tools/call", params, **capabilities), **headers)
        assert first.status == 200
        asked = first.json()["result"]
        assert asked["resultType"] == "input_required"
        [(key, question)] = asked["inputRequests"].items()
        assert question["method"] == "elicitation/create"
        assert "Withdraw" in question["params"]["message"]
        state = asked["requestState"]

        declined = {**params, "inputResponses": {key: {"action": "decline"}}, "requestState": state}
        second = await admin.post(modern(2, "tools/call", declined, **capabilities), **headers)
        result = second.json()["result"]
        assert result["resultType"] == "complete"
        assert "stays in the catalogue" in result["content"][0]["text"]

        tampered = {**declined, "requestState": state[:-2] + "xx"}
        refused = await admin.post(modern(3, "tools/call", tampered, **capabilities), **headers)
        assert refused.status == 400
        assert refused.json()["error"]["code"] == -32602

        other_book = {**declined, "arguments": {"book_id": 4}}
        replayed = await admin.post(modern(4, "tools/call", other_book, **capabilities), **headers)
        assert replayed.status == 400


async def test_stateless_missing_capability_is_400(server: DaphneServer, admin_token: str) -> None:
    async with StreamableClient(server.base_url, admin_token) as admin:
        answer = await admin.post(
            modern(1, "tools/call", {"name": "withdraw_book", "arguments": {"book_id": 3}}),
            **modern_headers("tools/call", "withdraw_book"),
        )
    assert answer.status == 400
    assert answer.json()["error"]["code"] == -32021


async def test_closing_a_stateless_stream_cancels_the_request(
    server: DaphneServer, admin_token: str
) -> None:
    body = modern(
        1, "tools/call", {"name": "import_catalogue", "arguments": {"count": 50, "batch": "gone"}}
    )
    body["params"]["_meta"]["progressToken"] = 1
    headers = StreamableClient(server.base_url, admin_token).headers(
        **modern_headers("tools/call", "import_catalogue")
    )
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as http,
        http.stream("POST", "/mcp", json=body, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = 0
        async for line in response.aiter_lines():
            seen += "notifications/progress" in line
            if seen == 3:
                break

    def imported() -> int:
        out = server.manage(
            "shell",
            "-c",
            "from library.models import Book; "
            "print(Book.objects.filter(title__startswith='gone #').count())",
        )
        return int(out.stdout.strip().splitlines()[-1])

    first = imported()
    # Had the import gone on, ten more books would arrive in this second.
    await asyncio.sleep(1.0)
    assert 3 <= first == imported() < 50
