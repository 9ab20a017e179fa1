"""The tool-call log: each tools/call becomes a row, written in batches off the stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_mcp import calllog
from django_mcp.exceptions import ToolError
from django_mcp.models import McpSession, ToolCall
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import InvalidParams
from django_mcp.protocol.session import ServerSession
from django_mcp.registry import Registry
from django_mcp.signals import tool_called

pytestmark = pytest.mark.django_db(transaction=True)

tools = Registry()


@tools.tool
def add(a: int, b: int = 2) -> int:
    return a + b


@tools.tool
def refuse(reason: str) -> str:
    raise ToolError(f"refused: {reason}")


@tools.tool(redact=["password"])
def login(username: str, password: str) -> str:
    return f"hello {username}"


@tools.tool(log_arguments=False)
def store_secret(secret: str) -> str:
    return "stored"


@tools.tool
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@pytest.fixture(autouse=True)
def fresh_recorder() -> Iterator[None]:
    # Calls recorded by other test modules (without a database) must not leak in.
    calllog.recorder._pending.clear()
    yield
    calllog.recorder._pending.clear()


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("caller")


async def open_session(user: Any) -> ServerSession:
    async def discard(message: Any) -> None:
        return None

    session = ServerSession(
        session_id=f"s-{user.pk}",
        user=user,
        send=discard,
        handlers=Handlers(tools),
        transport="sse",
    )
    session.protocol_version = "2025-11-25"
    await McpSession.objects.acreate(id=session.id, user=user)
    return session


async def call(session: ServerSession, name: str, arguments: Any) -> dict[str, Any]:
    return await session.handlers.tools_call(session, {"name": name, "arguments": arguments})


async def logged() -> list[ToolCall]:
    await calllog.recorder.drain()
    return [row async for row in ToolCall.objects.order_by("started_at", "id")]


async def test_ok_call_is_logged_with_session_user_arguments_and_duration(user: Any) -> None:
    session = await open_session(user)
    result = await call(session, "add", {"a": 1, "b": 5})
    assert result["structuredContent"] == {"result": 6}
    [row] = await logged()
    assert row.tool == "add"
    assert row.outcome == ToolCall.Outcome.OK
    assert row.session_id == session.id
    assert row.user_id == user.pk
    assert row.arguments == {"a": 1, "b": 5}
    assert row.error == ""
    assert row.duration_ms >= 0


async def test_tool_error_is_logged_with_its_message(user: Any) -> None:
    session = await open_session(user)
    result = await call(session, "refuse", {"reason": "no"})
    assert result["isError"] is True
    [row] = await logged()
    assert row.outcome == ToolCall.Outcome.TOOL_ERROR
    assert row.error == "refused: no"


async def test_protocol_errors_are_logged(user: Any) -> None:
    session = await open_session(user)
    with pytest.raises(InvalidParams):
        await call(session, "add", {"a": "not a number"})
    with pytest.raises(InvalidParams):
        await call(session, "nope", {"x": 1})
    bad_arguments, unknown = await logged()
    assert bad_arguments.outcome == ToolCall.Outcome.PROTOCOL_ERROR
    assert bad_arguments.error.startswith("Invalid arguments for tool add")
    assert bad_arguments.arguments == {"a": "not a number"}
    assert unknown.tool == "nope"
    assert unknown.outcome == ToolCall.Outcome.PROTOCOL_ERROR
    assert unknown.error == "Unknown tool: nope"


async def test_named_arguments_are_redacted(user: Any) -> None:
    session = await open_session(user)
    await call(session, "login", {"username": "ada", "password": "hunter2"})
    [row] = await logged()
    assert row.arguments == {"username": "ada", "password": "[redacted]"}
    assert "hunter2" not in str(row.arguments)


async def test_log_arguments_false_keeps_no_arguments(user: Any) -> None:
    session = await open_session(user)
    await call(session, "store_secret", {"secret": "s3cr3t"})
    [row] = await logged()
    assert row.outcome == ToolCall.Outcome.OK
    assert row.arguments is None


async def test_redaction_also_applies_to_failed_calls(user: Any) -> None:
    session = await open_session(user)
    with pytest.raises(InvalidParams):
        await call(session, "login", {"password": "hunter2"})
    [row] = await logged()
    assert row.outcome == ToolCall.Outcome.PROTOCOL_ERROR
    assert row.arguments == {"password": "[redacted]"}


async def test_cancelled_call_is_logged(user: Any) -> None:
    session = await open_session(user)
    task = asyncio.ensure_future(call(session, "slow", {"seconds": 30}))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = await logged()
    assert row.outcome == ToolCall.Outcome.CANCELLED


async def test_rows_are_written_in_one_batch_after_the_calls(user: Any) -> None:
    session = await open_session(user)
    for number in range(5):
        await call(session, "add", {"a": number})
    # Nothing is written on the stream's path: the rows wait for the batch.
    assert calllog.recorder.pending == 5
    assert await ToolCall.objects.acount() == 0
    assert len(await logged()) == 5
    assert calllog.recorder.pending == 0


async def test_logging_can_be_turned_off(user: Any) -> None:
    session = await open_session(user)
    with override_settings(DJANGO_MCP={"LOG_TOOL_CALLS": False}):
        await call(session, "add", {"a": 1})
    assert await logged() == []


async def test_tool_called_signal_fires_with_its_arguments(user: Any) -> None:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    tool_called.connect(receiver)
    try:
        session = await open_session(user)
        await call(session, "login", {"username": "ada", "password": "hunter2"})
        await call(session, "refuse", {"reason": "no"})
        await calllog.recorder.drain()
    finally:
        tool_called.disconnect(receiver)
    first, second = received
    assert first["sender"] is ToolCall
    assert first["session_id"] == session.id
    assert first["user"] == user
    assert first["tool"] == "login"
    assert first["arguments"] == {"username": "ada", "password": "[redacted]"}
    assert first["outcome"] == "ok"
    assert first["error"] == ""
    assert first["duration_ms"] >= 0
    assert first["started_at"].tzinfo is not None
    assert second["outcome"] == "tool-error"
    assert second["error"] == "refused: no"


async def test_signal_fires_even_with_logging_off(user: Any) -> None:
    received: list[str] = []

    async def receiver(sender: Any, tool: str, **kwargs: Any) -> None:
        received.append(tool)

    tool_called.connect(receiver)
    try:
        session = await open_session(user)
        with override_settings(DJANGO_MCP={"LOG_TOOL_CALLS": False}):
            await call(session, "add", {"a": 1})
            await calllog.recorder.drain()
    finally:
        tool_called.disconnect(receiver)
    assert received == ["add"]
    assert await ToolCall.objects.acount() == 0


async def test_a_recorder_of_the_sites_own(user: Any) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.records: list[Any] = []

        def record(self, session: ServerSession, call: Any) -> None:
            self.records.append(call)

    mine = Recorder()
    session = await open_session(user)
    session.handlers = Handlers(tools, recorder=mine)
    await call(session, "add", {"a": 1})
    [record] = mine.records
    assert (record.tool, record.outcome, record.session_id) == ("add", "ok", session.id)
    assert await logged() == []


async def test_no_recorder_setting_records_nothing(user: Any) -> None:
    session = await open_session(user)
    with override_settings(DJANGO_MCP={"CALL_RECORDER": None}):
        assert (await call(session, "add", {"a": 1}))["structuredContent"] == {"result": 3}
    assert calllog.recorder.pending == 0


async def test_huge_arguments_are_summarised(user: Any) -> None:
    session = await open_session(user)
    with pytest.raises(InvalidParams):
        await call(session, "add", {"a": "x" * (calllog.MAX_ARGUMENTS_SIZE + 10)})
    [row] = await logged()
    assert set(row.arguments) == {"_truncated"}


def test_redacting_an_unknown_argument_is_a_configuration_error() -> None:
    registry = Registry()
    with pytest.raises(ImproperlyConfigured, match=r"redacts \['pasword'\]"):

        @registry.tool(redact=["pasword"])
        def login(password: str) -> str:
            return password


async def test_deleting_a_session_keeps_its_calls(user: Any) -> None:
    session = await open_session(user)
    await call(session, "add", {"a": 1})
    await logged()
    await sync_to_async(McpSession.objects.filter(pk=session.id).delete)()
    [row] = await logged()
    assert row.session_id is None
