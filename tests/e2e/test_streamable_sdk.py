"""The official Python SDK's Streamable HTTP client against a real daphne.

In both eras: ``mode="legacy"`` initializes a session (2025-11-25), and the
default ``mode="auto"`` discovers the stateless 2026-07-28 revision and sends
every request on its own. Tools, an ORM toolset, progress on an event-stream
answer, logging, sampling and elicitation (server requests on the request's
stream in a session; multi round-trip requests when stateless).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from .conftest import DaphneLauncher, DaphneServer

WAIT = 20.0
ERAS = ["legacy", "auto"]
VERSION = {"legacy": "2025-11-25", "auto": "2026-07-28"}

# The SDK deprecates logging and sampling from 2026-07-28; this server still serves them.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    launcher = DaphneLauncher(tmp_path_factory, "daphne-streamable-sdk")
    try:
        yield launcher.start()
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def admin_token(library: DaphneServer) -> str:
    return library.create_token("admin")


def mcp_url(server: DaphneServer) -> str:
    return server.url("/mcp")


@contextlib.asynccontextmanager
async def connect(
    server: DaphneServer, token: str | None, mode: str, **options: Any
) -> AsyncIterator[Client]:
    """An SDK ``Client`` over Streamable HTTP with a bearer token (headers go on the
    ``httpx2.AsyncClient``: ``streamable_http_client`` takes none of its own)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(mcp_url(server), http_client=http)
        async with Client(transport, mode=mode, read_timeout_seconds=WAIT, **options) as client:
            yield client


@pytest.mark.parametrize("mode", ERAS)
async def test_list_and_call_tools(library: DaphneServer, mode: str) -> None:
    async with connect(library, library.token, mode) as client:
        assert client.protocol_version == VERSION[mode]
        assert client.server_info is not None
        assert client.server_info.name == "example-library"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "server_time", "books_search", "books_get"} <= names
        assert "import_catalogue" not in names  # demo may not add books

        echoed = await client.call_tool("echo", {"message": "hello"})
        assert echoed.is_error is False
        assert echoed.structured_content is not None
        assert echoed.structured_content["echo"] == "hello"
        assert echoed.structured_content["transport"] == "streamable-http"

        timed = await client.call_tool("server_time", {"timezone": "UTC"})
        assert timed.is_error is False
        assert "+00:00" in timed.content[0].text  # type: ignore[union-attr]

        found = await client.call_tool("books_search", {"query": "sagan"})
        assert found.is_error is False
        assert found.structured_content is not None
        titles = [row["title"] for row in found.structured_content["results"]]
        assert "Cosmos" in titles

        failed = await client.call_tool("server_time", {"timezone": "Mars/Olympus"})
        assert failed.is_error is True


@pytest.mark.parametrize("mode", ERAS)
async def test_unknown_tool_is_a_protocol_error(library: DaphneServer, mode: str) -> None:
    async with connect(library, library.token, mode) as client:
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("no_such_tool", {})


@pytest.mark.parametrize("mode", ERAS)
async def test_progress_and_logs_of_a_long_import(
    library: DaphneServer, admin_token: str, mode: str
) -> None:
    logs: list[types.LoggingMessageNotificationParams] = []
    steps: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    async with connect(
        library, admin_token, mode, logging_callback=on_log, log_level="info"
    ) as client:
        result = await client.call_tool(
            "import_catalogue", {"count": 3, "batch": f"SDK {mode}"}, progress_callback=on_progress
        )
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["imported"] == 3
    assert [step[0] for step in steps] == [1, 2, 3]
    assert all(step[1] == 3 for step in steps)
    assert [log.level for log in logs] == ["info", "info"]
    assert logs[0].logger == "library.import"


@pytest.mark.parametrize("mode", ERAS)
async def test_sampling(library: DaphneServer, mode: str) -> None:
    asked: list[types.CreateMessageRequestParams] = []

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> Any:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="4 because it is about space"),
            model="test-model",
        )

    async with connect(library, library.token, mode, sampling_callback=sample) as client:
        result = await client.call_tool("recommend_book", {"interest": "the cosmos"})
    assert result.is_error is False
    assert result.structured_content == {
        "book_id": 4,
        "title": "Cosmos",
        "answer": "4 because it is about space",
        "model": "test-model",
    }
    assert len(asked) == 1
    assert "the cosmos" in asked[0].messages[0].content.text  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "book_id"), [("legacy", 6), ("auto", 7)])
async def test_elicitation_declined_then_accepted(
    library: DaphneServer, admin_token: str, mode: str, book_id: int
) -> None:
    answers = iter(
        [
            types.ElicitResult(action="decline"),
            types.ElicitResult(action="accept", content={"confirm": True, "reason": "damaged"}),
        ]
    )
    messages: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> Any:
        messages.append(params.message)
        return next(answers)

    async with connect(library, admin_token, mode, elicitation_callback=elicit) as client:
        kept = await client.call_tool("withdraw_book", {"book_id": book_id})
        assert "stays in the catalogue (decline)" in kept.content[0].text  # type: ignore[union-attr]
        withdrawn = await client.call_tool("withdraw_book", {"book_id": book_id})
        assert withdrawn.content[0].text.startswith("Withdrew")  # type: ignore[union-attr]
        gone = await client.call_tool("books_get", {"id": book_id})
        assert gone.is_error is True
    assert len(messages) == 2 and messages[0].startswith("Withdraw")


@pytest.mark.parametrize("mode", ERAS)
async def test_elicitation_without_the_capability(
    library: DaphneServer, admin_token: str, mode: str
) -> None:
    async with connect(library, admin_token, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("withdraw_book", {"book_id": 1})
    assert raised.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY


async def test_client_session_on_raw_streams_ends_its_session(library: DaphneServer) -> None:
    """``ClientSession`` on the transport's streams; leaving sends ``DELETE``."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {library.token}"}) as http,
        streamable_http_client(mcp_url(library), http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=WAIT) as session,
    ):
        init = await session.initialize()
        assert init.protocol_version == "2025-11-25"
        result = await session.call_tool("echo", {"message": "raw streams"})
        assert result.structured_content is not None
        assert result.structured_content["echo"] == "raw streams"
    rows = library.manage(
        "shell",
        "-c",
        "from django_mcp.models import McpSession; "
        "print(McpSession.objects.filter(transport='streamable-http', closed_at__isnull=True)"
        ".count())",
    )
    assert rows.stdout.strip().splitlines()[-1] == "0"


async def test_wrong_token_fails_to_connect(library: DaphneServer) -> None:
    """The raw tests check the 401 and its challenge; the SDK gives up on it."""
    with pytest.raises(BaseException) as raised:
        async with connect(library, "mcp_not-a-token", "legacy"):
            pass
    assert (
        raised.group_contains(MCPError)
        if isinstance(raised.value, BaseExceptionGroup)
        else (isinstance(raised.value, MCPError))
    )
