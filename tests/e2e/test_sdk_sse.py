"""The official MCP Python SDK client, over HTTP+SSE with a token, against daphne.

``mcp.client.sse.sse_client`` + ``mcp.ClientSession``, and the high-level
``mcp.Client`` in legacy mode: initialize, list tools, call the example
project's tools and check what they return.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client, ClientSession, MCPError
from mcp.client.sse import sse_client
from mcp_types import CallToolResult, TextContent

from .helpers import bearer

if TYPE_CHECKING:
    from .conftest import DaphneServer

SUPPORTED = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}


@contextlib.asynccontextmanager
async def sdk_session(server: DaphneServer, token: str | None = None) -> AsyncIterator[Any]:
    token = token or server.token
    assert token
    async with (
        sse_client(server.sse_url, headers=bearer(token), timeout=10, sse_read_timeout=60) as (
            read,
            write,
        ),
        ClientSession(read, write, read_timeout_seconds=30) as session,
    ):
        yield session


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def test_sdk_initialize_list_and_call(server: DaphneServer) -> None:
    async with sdk_session(server) as session:
        init = await session.initialize()
        assert init.protocol_version in SUPPORTED
        assert init.server_info.name == "example-library"
        assert init.capabilities.tools is not None
        assert init.instructions and "lending library" in init.instructions

        listed = await session.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert {"echo", "server_time", "books_search", "books_get", "lend_book"} <= set(tools)
        echo = tools["echo"]
        assert echo.input_schema["required"] == ["message"]
        assert echo.input_schema["properties"]["message"]["description"] == "Text to send back"
        assert echo.output_schema is not None
        assert set(echo.output_schema["properties"]) == {"echo", "timestamp", "transport"}
        assert echo.annotations is not None and echo.annotations.read_only_hint is True
        assert tools["server_time"].input_schema["properties"]["timezone"]["default"] == "UTC"

        # echo
        before = datetime.now(UTC) - timedelta(minutes=5)
        result = await session.call_tool("echo", {"message": "hello from the SDK"})
        assert result.is_error is False
        assert result.structured_content is not None
        assert result.structured_content["echo"] == "hello from the SDK"
        assert result.structured_content["transport"] == "sse"
        stamp = datetime.fromisoformat(result.structured_content["timestamp"])
        assert before < stamp < datetime.now(UTC) + timedelta(minutes=5)
        assert "hello from the SDK" in text_of(result)


async def test_sdk_server_time(server: DaphneServer) -> None:
    async with sdk_session(server) as session:
        await session.initialize()
        utc = await session.call_tool("server_time", {})
        assert utc.is_error is False
        assert utc.structured_content is not None
        assert utc.structured_content["timezone"] == "UTC"
        iso = datetime.fromisoformat(utc.structured_content["iso"])
        assert abs(iso.timestamp() - utc.structured_content["unix"]) < 1
        assert utc.structured_content["local"].endswith("+00:00")

        tokyo = await session.call_tool("server_time", {"timezone": "Asia/Tokyo"})
        assert tokyo.is_error is False
        assert tokyo.structured_content is not None
        assert tokyo.structured_content["timezone"] == "Asia/Tokyo"
        assert tokyo.structured_content["local"].endswith("+09:00")

        unknown = await session.call_tool("server_time", {"timezone": "Atlantis/Capital"})
        assert unknown.is_error is True
        assert unknown.structured_content is None
        assert text_of(unknown) == (
            "Unknown time zone 'Atlantis/Capital': use an IANA name such as 'Europe/Paris'."
        )


async def test_sdk_orm_tools_read_and_write(server: DaphneServer) -> None:
    async with sdk_session(server) as session:
        await session.initialize()
        found = await session.call_tool("books_search", {"query": "Cosmos"})
        assert found.is_error is False
        assert found.structured_content is not None
        [cosmos] = found.structured_content["results"]
        assert cosmos["title"] == "Cosmos"
        assert cosmos["author"]["name"] == "Carl Sagan"
        assert cosmos["published"] == 1980

        science = await session.call_tool("books_search", {"genre": "science", "limit": 50})
        assert science.structured_content is not None
        titles = {book["title"] for book in science.structured_content["results"]}
        assert titles == {"Cosmos", "Pale Blue Dot", "A Brief History of Time"}

        got = await session.call_tool("books_get", {"id": cosmos["id"]})
        assert got.is_error is False
        assert got.structured_content is not None
        assert got.structured_content["copies"] == 3
        available = got.structured_content["available"]
        assert 0 < available <= 3  # other tests on this server may have lent one

        lent = await session.call_tool("lend_book", {"book_id": cosmos["id"], "days": 10})
        assert lent.is_error is False, text_of(lent)
        assert lent.structured_content is not None
        assert lent.structured_content["book"] == "Cosmos"
        due = date.fromisoformat(lent.structured_content["due"])
        # the server's today, whichever side of midnight the call fell on
        assert due - timedelta(days=10) in {date.today(), datetime.now(UTC).date()}
        assert lent.structured_content["loan_id"] > 0

        after = await session.call_tool("books_get", {"id": cosmos["id"]})
        assert after.structured_content is not None
        assert after.structured_content["available"] == available - 1

        loans = await session.call_tool("loans_search", {"returned_at__isnull": True})
        assert loans.structured_content is not None
        assert lent.structured_content["loan_id"] in {
            loan["id"] for loan in loans.structured_content["results"]
        }

        missing = await session.call_tool("books_get", {"id": 987654})
        assert missing.is_error is True
        assert "987654" in text_of(missing) or "not found" in text_of(missing).lower()


async def test_sdk_invalid_arguments_and_unknown_tool(server: DaphneServer) -> None:
    async with sdk_session(server) as session:
        await session.initialize()
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("no_such_tool", {})
        assert unknown.value.error.code == -32602
        with pytest.raises(MCPError) as invalid:
            await session.call_tool("lend_book", {"book_id": 1, "days": 1000})
        assert invalid.value.error.code == -32602
        assert "days" in invalid.value.error.message
        # the session is still good
        result = await session.call_tool("echo", {"message": "still here"})
        assert result.structured_content is not None
        assert result.structured_content["echo"] == "still here"
        await session.send_ping()


async def test_sdk_tools_the_user_may_not_use_are_hidden(server: DaphneServer) -> None:
    # demo may lend books but not create them; admin (a superuser) may do both.
    async with sdk_session(server) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "lend_book" in names
        assert "books_create" not in names
        with pytest.raises(MCPError) as refused:
            await session.call_tool("books_create", {})
        assert refused.value.error.code == -32602
        assert refused.value.error.message == "Unknown tool: books_create"
    admin = server.create_token("admin")
    async with sdk_session(server, admin) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {"books_create", "lend_book"} <= names


async def test_high_level_client_legacy_mode(server: DaphneServer) -> None:
    assert server.token
    async with Client(
        sse_client(server.sse_url, headers=bearer(server.token)),
        mode="legacy",
        read_timeout_seconds=30,
    ) as client:
        assert client.protocol_version in SUPPORTED
        assert client.server_info is not None
        assert client.server_info.name == "example-library"
        tools = await client.list_tools()
        assert "echo" in {tool.name for tool in tools.tools}
        result = await client.call_tool("echo", {"message": "legacy mode"})
        assert result.is_error is False
        assert result.structured_content is not None
        assert result.structured_content["echo"] == "legacy mode"
        zone = await client.call_tool("server_time", {"timezone": "Europe/Paris"})
        assert zone.structured_content is not None
        assert zone.structured_content["local"].endswith(("+01:00", "+02:00"))


async def test_high_level_client_auto_mode_falls_back_to_initialize(server: DaphneServer) -> None:
    """``mode="auto"`` first sends ``server/discover``; the -32601 it gets makes it
    fall back to ``initialize``."""
    assert server.token
    async with Client(
        sse_client(server.sse_url, headers=bearer(server.token)), read_timeout_seconds=30
    ) as client:
        assert client.protocol_version in SUPPORTED
        result = await client.call_tool("echo", {"message": "auto"})
        assert result.structured_content is not None
        assert result.structured_content["echo"] == "auto"
