"""The protocol core driven directly: ``ServerSession`` + ``Handlers``, no transport."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings

from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.session import ServerSession
from django_mcp.registry import registry
from tests.testapp import mcp_tools

LATEST = "2025-11-25"
VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
WAIT = 5.0


class Outbox:
    """The transport side of a session: collects everything it sends."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)

    def by_id(self, request_id: Any) -> list[dict[str, Any]]:
        return [m for m in self.messages if isinstance(m, dict) and m.get("id") == request_id]

    async def wait_for(self, predicate: Callable[[Any], bool]) -> Any:
        async with asyncio.timeout(WAIT):
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                await asyncio.sleep(0.005)

    async def reply(self, request_id: Any) -> dict[str, Any]:
        message: dict[str, Any] = await self.wait_for(
            lambda m: isinstance(m, dict) and "id" in m and m["id"] == request_id
        )
        return message


async def eventually(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


class FakeUser:
    """A user with fixed permissions, no database behind it."""

    is_authenticated = True
    is_active = True
    pk = 4242

    def __init__(self, *perms: str) -> None:
        self.perms = set(perms)

    def has_perms(self, perms: list[str]) -> bool:
        return set(perms) <= self.perms

    def __str__(self) -> str:
        return "fake-user"


class Client:
    """A session with its outbox and a few helpers to talk to it."""

    def __init__(self, user: Any = None, handlers: Handlers | None = None) -> None:
        self.outbox = Outbox()
        self.session = ServerSession(
            session_id="session-1",
            user=user if user is not None else AnonymousUser(),
            send=self.outbox,
            handlers=handlers or Handlers(),
            transport="sse",
        )
        self.initialized_calls: list[ServerSession] = []

        async def on_initialize(session: ServerSession) -> None:
            self.initialized_calls.append(session)

        self.session.on_initialize = on_initialize
        self._next_id = 1000

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def request(
        self, method: str, params: dict[str, Any] | None = None, request_id: Any = None
    ) -> dict[str, Any]:
        if request_id is None:
            request_id = self.new_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.session.receive(message)
        return await self.outbox.reply(request_id)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "result" in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "error" in reply, reply
        error: dict[str, Any] = reply["error"]
        return error

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.session.receive(message)

    async def initialize(self, version: Any = LATEST) -> dict[str, Any]:
        result = await self.result(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {"roots": {"listChanged": True}},
                "clientInfo": {"name": "unit-test", "version": "9.9"},
            },
        )
        self.notify("notifications/initialized")
        return result

    async def call(self, name: str, arguments: Any = None, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, **extra}
        if arguments is not None:
            params["arguments"] = arguments
        return await self.result("tools/call", params)

    async def call_error(self, name: Any, arguments: Any = None) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        return await self.error("tools/call", params)


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(user: Any = None, handlers: Handlers | None = None) -> Client:
        client = Client(user, handlers)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.session.close()
    await asyncio.sleep(0)


@pytest.fixture
async def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
async def ready(make_client: Callable[..., Client]) -> Client:
    client = make_client()
    await client.initialize()
    return client


@pytest.fixture(autouse=True)
def _reset_slow_events() -> None:
    mcp_tools.SLOW_EVENTS.clear()


# Lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_initialize_echoes_supported_versions(client: Client, version: str) -> None:
    result = await client.initialize(version)
    assert result["protocolVersion"] == version
    assert client.session.protocol_version == version


@pytest.mark.parametrize("version", ["1999-01-01", "2026-07-28", "", "latest"])
async def test_initialize_unknown_version_gets_latest(client: Client, version: str) -> None:
    result = await client.initialize(version)
    assert result["protocolVersion"] == LATEST


async def test_initialize_result_and_client_info(client: Client) -> None:
    result = await client.initialize()
    assert result["serverInfo"]["name"] == "django-mcp"
    assert result["serverInfo"]["version"]
    # tests.testapp registers tools only: no resources, prompts or completions.
    assert result["capabilities"] == {"tools": {"listChanged": True}, "logging": {}}
    assert "instructions" not in result
    assert client.session.client_info == {"name": "unit-test", "version": "9.9"}
    assert client.session.client_capabilities == {"roots": {"listChanged": True}}
    await asyncio.sleep(0)
    assert client.initialized_calls == [client.session]
    assert client.session.initialized is True


@override_settings(
    DJANGO_MCP={"SERVER_NAME": "my-site", "SERVER_VERSION": "3.1", "INSTRUCTIONS": "Be nice."}
)
async def test_initialize_uses_settings(client: Client) -> None:
    result = await client.initialize()
    assert result["serverInfo"] == {"name": "my-site", "version": "3.1"}
    assert result["instructions"] == "Be nice."


@pytest.mark.parametrize("params", [{}, {"protocolVersion": 20241105}, {"protocolVersion": None}])
async def test_initialize_without_string_version_is_invalid_params(
    client: Client, params: dict[str, Any]
) -> None:
    error = await client.error("initialize", params)
    assert error["code"] == -32602
    assert "protocolVersion" in error["message"]
    assert client.session.protocol_version is None


async def test_initialize_tolerates_odd_client_info(client: Client) -> None:
    result = await client.result(
        "initialize", {"protocolVersion": LATEST, "clientInfo": "x", "capabilities": [1]}
    )
    assert result["protocolVersion"] == LATEST
    assert client.session.client_info == {}
    assert client.session.client_capabilities == {}


async def test_reinitialize_is_an_error(ready: Client) -> None:
    error = await ready.error("initialize", {"protocolVersion": "2024-11-05"})
    assert error["code"] == -32600
    assert "already initialized" in error["message"]
    assert ready.session.protocol_version == LATEST


@pytest.mark.parametrize(
    ("method", "params"), [("tools/list", None), ("tools/call", {"name": "add"})]
)
async def test_request_before_initialize_is_refused(
    client: Client, method: str, params: dict[str, Any] | None
) -> None:
    error = await client.error(method, params)
    assert error["code"] == -32600
    assert "initialize" in error["message"]


async def test_ping_before_and_after_initialize(client: Client) -> None:
    assert await client.result("ping") == {}
    await client.initialize()
    assert await client.result("ping", {"_meta": {"x": 1}}) == {}


async def test_initialized_notification_before_initialize_is_ignored(client: Client) -> None:
    client.notify("notifications/initialized")
    await asyncio.sleep(0)
    assert client.session.initialized is False
    assert client.outbox.messages == []


@pytest.mark.parametrize("initialized", [False, True])
async def test_unknown_method(make_client: Callable[..., Client], initialized: bool) -> None:
    client = make_client()
    if initialized:
        await client.initialize()
    error = await client.error("server/discover", {"_meta": {}})
    assert error == {"code": -32601, "message": "Method not found: server/discover"}


async def test_unknown_method_name_is_truncated(ready: Client) -> None:
    error = await ready.error("x" * 10_000)
    assert error["code"] == -32601
    assert len(error["message"]) < 300


async def test_notification_names_as_requests_are_unknown_methods(ready: Client) -> None:
    # A notification that carries an id is a request, and no such method exists.
    for method in ("notifications/initialized", "notifications/cancelled"):
        error = await ready.error(method)
        assert error["code"] == -32601


async def test_unknown_notifications_are_dropped_silently(ready: Client) -> None:
    before = len(ready.outbox.messages)
    ready.notify("notifications/whatever", {"a": 1})
    ready.notify("notifications/roots/list_changed")
    assert await ready.result("ping") == {}
    assert len(ready.outbox.messages) == before + 1


async def test_unexpected_client_responses_are_ignored(ready: Client) -> None:
    ready.session.receive({"jsonrpc": "2.0", "id": 77, "result": {}})
    ready.session.receive({"jsonrpc": "2.0", "id": 78, "error": {"code": 1, "message": "x"}})
    assert await ready.result("ping") == {}
    assert ready.outbox.by_id(77) == [] and ready.outbox.by_id(78) == []


# Malformed messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected_id"),
    [
        ({"jsonrpc": "2.0", "id": 3, "method": 5}, 3),
        ({"jsonrpc": "2.0", "id": "p", "method": "ping", "params": [1]}, "p"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, None),
        ({"jsonrpc": "1.0", "id": 4, "method": "ping"}, 4),
        ("just a string", None),
        (42, None),
        (None, None),
    ],
)
async def test_malformed_message_gets_invalid_request(
    ready: Client, payload: Any, expected_id: Any
) -> None:
    before = ready.session.error_count
    ready.session.receive(payload)
    reply = await ready.outbox.wait_for(lambda m: isinstance(m, dict) and "error" in m)
    assert reply["id"] == expected_id
    assert reply["error"]["code"] == -32600
    assert ready.session.error_count == before + 1
    assert await ready.result("ping") == {}


async def test_huge_ids_are_echoed(ready: Client) -> None:
    for request_id in (10**30, "i" * 10_000, 0, -5):
        reply = await ready.request("ping", request_id=request_id)
        assert reply == {"jsonrpc": "2.0", "id": request_id, "result": {}}


async def test_counters(ready: Client) -> None:
    requests, errors = ready.session.request_count, ready.session.error_count
    await ready.result("ping")
    await ready.error("nope")
    ready.session.receive({"jsonrpc": "2.0", "id": 5, "method": 5})
    await ready.outbox.reply(5)
    assert ready.session.request_count == requests + 2
    assert ready.session.error_count == errors + 2


# tools/list -------------------------------------------------------------------------------------


def visible_names(user: Any) -> list[str]:
    return [tool.name for tool in registry.tools_for(user)]


async def test_tools_list(ready: Client) -> None:
    result = await ready.result("tools/list")
    names = [tool["name"] for tool in result["tools"]]
    assert names == visible_names(AnonymousUser())
    assert "nextCursor" not in result
    add = next(tool for tool in result["tools"] if tool["name"] == "add")
    assert add["description"] == "Add two numbers."
    assert add["inputSchema"]["required"] == ["a"]
    assert add["inputSchema"]["properties"]["b"]["description"] == "The second number"
    assert add["outputSchema"]["properties"]["total"] == {"title": "Total", "type": "integer"}
    whoami = next(tool for tool in result["tools"] if tool["name"] == "whoami")
    assert whoami["annotations"] == {"readOnlyHint": True}
    assert whoami["inputSchema"]["properties"] == {}


@override_settings(DJANGO_MCP={"PAGE_SIZE": 2})
async def test_tools_list_pagination(ready: Client) -> None:
    expected = visible_names(AnonymousUser())
    assert len(expected) > 4
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        result = await ready.result("tools/list", {"cursor": cursor} if cursor else None)
        pages += 1
        assert len(result["tools"]) <= 2
        seen.extend(tool["name"] for tool in result["tools"])
        cursor = result.get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == expected
    assert pages == (len(expected) + 1) // 2


@override_settings(DJANGO_MCP={"PAGE_SIZE": 1})
async def test_tools_list_pagination_page_size_one(ready: Client) -> None:
    first = await ready.result("tools/list")
    assert len(first["tools"]) == 1
    second = await ready.result("tools/list", {"cursor": first["nextCursor"]})
    assert second["tools"][0]["name"] != first["tools"][0]["name"]


def encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "", encode("not-a-number"), encode("-1"), encode("100000"), 5, ["x"], "\u00e9"],
)
async def test_tools_list_invalid_cursor(ready: Client, cursor: Any) -> None:
    error = await ready.error("tools/list", {"cursor": cursor})
    assert error["code"] == -32602
    assert "cursor" in error["message"]


async def test_tools_list_hides_tools_without_permission(make_client: Any) -> None:
    anonymous = make_client()
    await anonymous.initialize()
    names = [tool["name"] for tool in (await anonymous.result("tools/list"))["tools"]]
    assert "staff_report" not in names
    allowed = make_client(FakeUser("auth.view_user"))
    await allowed.initialize()
    names = [tool["name"] for tool in (await allowed.result("tools/list"))["tools"]]
    assert "staff_report" in names


# tools/call -------------------------------------------------------------------------------------


async def test_call_structured_tool(ready: Client) -> None:
    result = await ready.call("add", {"a": 1})
    assert result["structuredContent"] == {"total": 3, "count": 2}
    assert result["content"] == [{"type": "text", "text": '{"total": 3, "count": 2}'}]
    assert "isError" not in result or result["isError"] is False


async def test_call_coerces_arguments(ready: Client) -> None:
    result = await ready.call("add", {"a": "40", "b": 2})
    assert result["structuredContent"]["total"] == 42


async def test_call_async_tool_with_context(make_client: Any) -> None:
    client = make_client(FakeUser())
    await client.initialize()
    result = await client.call("whoami")
    assert result["content"] == [{"type": "text", "text": "fake-user"}]


async def test_call_context_details(ready: Client) -> None:
    reply = await ready.request(
        "tools/call",
        {"name": "context_info", "arguments": {}, "_meta": {"progressToken": "t1"}},
        request_id="ctx-42",
    )
    assert reply["result"]["structuredContent"] == {
        "session_id": "session-1",
        "transport": "sse",
        "meta": {"progressToken": "t1"},
        "request_id": "ctx-42",
    }


async def test_call_without_arguments_key(ready: Client) -> None:
    result = await ready.result("tools/call", {"name": "context_info"})
    assert result["structuredContent"]["meta"] == {}


async def test_call_unknown_tool(ready: Client) -> None:
    error = await ready.call_error("nope", {})
    assert error == {"code": -32602, "message": "Unknown tool: nope"}


@pytest.mark.parametrize("name", [None, 5, ["add"], {"n": 1}])
async def test_call_name_must_be_a_string(ready: Client, name: Any) -> None:
    error = await ready.call_error(name)
    assert error["code"] == -32602
    assert '"name"' in error["message"]


@pytest.mark.parametrize("arguments", [[1, 2], "a=1", 3])
async def test_call_arguments_must_be_an_object(ready: Client, arguments: Any) -> None:
    error = await ready.call_error("add", arguments)
    assert error["code"] == -32602
    assert '"arguments"' in error["message"]


@pytest.mark.parametrize(
    ("arguments", "location", "fragment"),
    [
        ({"a": "not a number"}, ["a"], "a: Input should be a valid integer"),
        ({}, ["a"], "a: Field required"),
        ({"a": 1, "zzz": 2}, ["zzz"], "zzz: Extra inputs are not permitted"),
        ({"a": None}, ["a"], "a: Input should be a valid integer"),
    ],
)
async def test_call_invalid_arguments(
    ready: Client, arguments: dict[str, Any], location: list[str], fragment: str
) -> None:
    error = await ready.call_error("add", arguments)
    assert error["code"] == -32602
    assert error["message"].startswith("Invalid arguments for tool add: ")
    assert fragment in error["message"]
    assert isinstance(error["data"], list)
    assert list(error["data"][0]["loc"]) == location
    assert json.loads(json.dumps(error["data"]))[0]["loc"] == location
    # the data carries no echo of what the client sent
    assert "input" not in error["data"][0]


async def test_tool_error_is_an_error_result(ready: Client) -> None:
    result = await ready.call("fail", {"message": "the shelf is empty"})
    assert result["isError"] is True
    assert result["content"] == [{"type": "text", "text": "the shelf is empty"}]


async def test_tool_exception_is_an_error_result_without_traceback(
    ready: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="django_mcp"):
        result = await ready.call("crash", {})
    assert result["isError"] is True
    assert result["content"] == [{"type": "text", "text": "kaboom"}]
    assert "Traceback" not in str(result)
    assert "RuntimeError" not in str(result)
    # ...but the server log has the whole story.
    assert any(record.exc_info and "crash" in record.getMessage() for record in caplog.records)
    assert await ready.result("ping") == {}


async def test_permission_hidden_tool_is_refused_like_an_unknown_one(ready: Client) -> None:
    hidden = await ready.call_error("staff_report", {})
    unknown = await ready.call_error("staff_reporx", {})
    assert hidden["code"] == unknown["code"] == -32602
    assert hidden["message"].replace("staff_report", "NAME") == unknown["message"].replace(
        "staff_reporx", "NAME"
    )
    assert set(hidden) == set(unknown) == {"code", "message"}


async def test_permitted_user_can_call_the_tool(make_client: Any) -> None:
    client = make_client(FakeUser("auth.view_user"))
    await client.initialize()
    result = await client.call("staff_report", {})
    assert result["structuredContent"] == {"result": ["secret"]}


@pytest.mark.django_db(transaction=True)
async def test_sync_tool_reads_the_database(make_client: Any, django_user_model: Any) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(django_user_model.objects.create_user)("reader")
    await sync_to_async(django_user_model.objects.create_user)("writer")
    client = make_client()
    await client.initialize()
    result = await client.call("user_count", {})
    assert result["structuredContent"] == {"result": 2}


@pytest.mark.django_db(transaction=True)
async def test_async_tool_uses_the_async_orm(make_client: Any, django_user_model: Any) -> None:
    user = await django_user_model.objects.acreate(username="alice")
    client = make_client(user)
    await client.initialize()
    result = await client.call("my_username", {})
    assert result["content"] == [{"type": "text", "text": "alice"}]


# Concurrency, batches, cancellation ------------------------------------------------------------


async def test_requests_run_concurrently(ready: Client) -> None:
    ready.session.receive(
        {
            "jsonrpc": "2.0",
            "id": "slow",
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 30}},
        }
    )
    # A slow call does not hold up the next ones.
    assert (await ready.call("add", {"a": 5}))["structuredContent"]["total"] == 7
    assert ready.session.running == 1
    assert ready.outbox.by_id("slow") == []


async def test_batch(ready: Client) -> None:
    ready.session.receive(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": 1}},
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            42,
            {"jsonrpc": "2.0", "id": 9, "method": "nope"},
            {"jsonrpc": "2.0", "id": 10, "method": "ping", "params": "bad"},
        ]
    )
    batch = await ready.outbox.wait_for(lambda m: isinstance(m, list))
    by_id = {reply["id"]: reply for reply in batch}
    assert set(by_id) == {1, 2, None, 9, 10}
    assert by_id[1]["result"] == {}
    assert by_id[2]["result"]["structuredContent"]["total"] == 3
    assert by_id[None]["error"]["code"] == -32600
    assert by_id[9]["error"]["code"] == -32601
    assert by_id[10]["error"]["code"] == -32600


async def test_empty_batch(ready: Client) -> None:
    ready.session.receive([])
    reply = await ready.outbox.wait_for(lambda m: isinstance(m, dict) and "error" in m)
    assert reply["id"] is None
    assert reply["error"]["code"] == -32600
    assert "empty batch" in reply["error"]["message"]


async def test_batch_of_junk(ready: Client) -> None:
    ready.session.receive([1, "x", None, [], {}])
    batch = await ready.outbox.wait_for(lambda m: isinstance(m, list))
    assert len(batch) == 5
    assert all(reply["id"] is None and reply["error"]["code"] == -32600 for reply in batch)
    assert await ready.result("ping") == {}


async def test_batch_of_notifications_gets_no_reply(ready: Client) -> None:
    before = list(ready.outbox.messages)
    ready.session.receive(
        [
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "method": "notifications/other"},
        ]
    )
    assert await ready.result("ping") == {}
    assert ready.outbox.messages[: len(before)] == before
    assert len(ready.outbox.messages) == len(before) + 1


async def test_duplicate_in_flight_id_is_refused(ready: Client) -> None:
    slow = {
        "jsonrpc": "2.0",
        "id": "same",
        "method": "tools/call",
        "params": {"name": "slow", "arguments": {"seconds": 30}},
    }
    ready.session.receive(slow)
    ready.session.receive({"jsonrpc": "2.0", "id": "same", "method": "ping"})
    reply = await ready.outbox.reply("same")
    assert reply["error"]["code"] == -32600
    assert "already in use" in reply["error"]["message"]
    # the first request is still running, under its id
    assert ready.session.running == 1
    assert ready.session.cancel_request("same") is True


async def test_ids_can_be_reused_once_answered(ready: Client) -> None:
    assert await ready.request("ping", request_id=7) == {"jsonrpc": "2.0", "id": 7, "result": {}}
    ready.outbox.messages.clear()
    assert await ready.request("ping", request_id=7) == {"jsonrpc": "2.0", "id": 7, "result": {}}


async def test_cancelled_notification_cancels_a_running_tool(ready: Client) -> None:
    ready.session.receive(
        {
            "jsonrpc": "2.0",
            "id": 50,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 30}},
        }
    )
    await eventually(lambda: mcp_tools.SLOW_EVENTS == ["started"])
    ready.notify("notifications/cancelled", {"requestId": 50, "reason": "user hit stop"})
    assert await ready.result("ping") == {}
    await eventually(lambda: ready.session.running == 0)
    assert mcp_tools.SLOW_EVENTS == ["started", "cancelled"]
    await asyncio.sleep(0.05)
    assert ready.outbox.by_id(50) == []


@pytest.mark.parametrize("request_id", [999, "unknown", True, None, 1.5])
async def test_cancelling_an_unknown_request_is_harmless(ready: Client, request_id: Any) -> None:
    ready.session.receive(
        {
            "jsonrpc": "2.0",
            "id": 60,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 30}},
        }
    )
    ready.notify("notifications/cancelled", {"requestId": request_id})
    assert await ready.result("ping") == {}
    assert ready.session.running == 1
    assert ready.session.cancel_request(60) is True


async def test_close_cancels_running_requests_and_silences_the_session(ready: Client) -> None:
    ready.session.receive(
        {
            "jsonrpc": "2.0",
            "id": 70,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 30}},
        }
    )
    await eventually(lambda: mcp_tools.SLOW_EVENTS == ["started"])
    count = len(ready.outbox.messages)
    ready.session.close()
    ready.session.receive({"jsonrpc": "2.0", "id": 71, "method": "ping"})
    await asyncio.sleep(0.05)
    assert mcp_tools.SLOW_EVENTS == ["started", "cancelled"]
    assert ready.session.running == 0
    assert len(ready.outbox.messages) == count
