"""Resources, prompts, completion, logging, progress, cancellation, sampling, elicitation
and roots over the real HTTP+SSE transport, with the official Python SDK client.

One daphne process serves the example project with the conformance fixtures enabled
(``EXAMPLE_CONFORMANCE=1``), so every content type is exercised. Calls that need
permissions run as the demo superuser ``admin``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    BlobResourceContents,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    EmbeddedResource,
    ImageContent,
    ListRootsResult,
    LoggingMessageNotificationParams,
    PromptReference,
    ResourceTemplateReference,
    ResourceUpdatedNotification,
    Root,
    TextContent,
    TextResourceContents,
)

from tests.e2e.conftest import DaphneLauncher, DaphneServer

WAIT = 20.0

# The SDK deprecates subscriptions, logging and roots for the 2026-07-28 revision; this
# server speaks 2025-11-25, where they are current.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    launcher = DaphneLauncher(tmp_path_factory, "daphne-features")
    try:
        yield launcher.start(EXAMPLE_CONFORMANCE=1)
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def admin_token(library: DaphneServer) -> str:
    return library.create_token("admin")


@contextlib.asynccontextmanager
async def connect(server: DaphneServer, token: str, **options: Any) -> AsyncIterator[ClientSession]:
    """An initialized SDK session over HTTP+SSE; ``options`` go to ``ClientSession``."""
    async with (
        sse_client(server.sse_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as (
            read,
            write,
        ),
        ClientSession(read, write, read_timeout_seconds=WAIT, **options) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text


async def catalogue(session: ClientSession) -> list[dict[str, Any]]:
    result = await session.read_resource("library://catalogue")
    [contents] = result.contents
    assert isinstance(contents, TextResourceContents)
    rows: list[dict[str, Any]] = json.loads(contents.text)
    return rows


async def import_books(session: ClientSession, batch: str, count: int) -> list[int]:
    result = await session.call_tool("import_catalogue", {"count": count, "batch": batch})
    assert not result.is_error, result
    assert result.structured_content is not None
    ids: list[int] = result.structured_content["book_ids"]
    return ids


# Capabilities, resources ----------------------------------------------------------------


async def test_capabilities(library: DaphneServer, admin_token: str) -> None:
    async with connect(library, admin_token) as session:
        capabilities = session.server_capabilities
        assert capabilities is not None
        assert capabilities.resources is not None and capabilities.resources.subscribe
        assert capabilities.prompts is not None and capabilities.prompts.list_changed
        assert capabilities.tools is not None and capabilities.tools.list_changed
        assert capabilities.completions is not None
        assert capabilities.logging is not None


async def test_resources_list_templates_and_read(library: DaphneServer) -> None:
    assert library.token
    async with connect(library, library.token) as session:
        listed = await session.list_resources()
        uris = {resource.uri for resource in listed.resources}
        assert {"library://catalogue", "test://static-text", "test://static-binary"} <= uris
        templates = await session.list_resource_templates()
        assert {
            "library://books/{id}",
            "library://authors/{name}",
            "test://template/{id}/data",
        } <= {template.uri_template for template in templates.resource_templates}

        rows = await catalogue(session)
        cosmos = next(row for row in rows if row["title"] == "Cosmos")
        assert cosmos["author"] == "Carl Sagan" and cosmos["available"] == 3

        book = await session.read_resource(f"library://books/{cosmos['id']}")
        [contents] = book.contents
        assert isinstance(contents, TextResourceContents)
        assert contents.mime_type == "application/json"
        assert json.loads(contents.text)["isbn"] == "9780345539434"

        author = await session.read_resource("library://authors/Carl%20Sagan")
        [page] = author.contents
        assert isinstance(page, TextResourceContents)
        assert page.mime_type == "text/markdown" and "*Pale Blue Dot* (1994)" in page.text

        binary = await session.read_resource("test://static-binary")
        [blob] = binary.contents
        assert isinstance(blob, BlobResourceContents)
        assert base64.b64decode(blob.blob).startswith(b"\x89PNG")

        template = await session.read_resource("test://template/123/data")
        [data] = template.contents
        assert isinstance(data, TextResourceContents)
        assert json.loads(data.text) == {
            "id": "123",
            "templateTest": True,
            "data": "Data for ID: 123",
        }

        for missing in ("library://books/999999", "library://books/abc", "library://nope"):
            with pytest.raises(MCPError) as raised:
                await session.read_resource(missing)
            assert raised.value.code == -32002
            assert raised.value.data == {"uri": missing}


async def test_subscribe_to_a_book_and_hear_it_lent(
    library: DaphneServer, admin_token: str
) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(message.params.uri)
            arrived.set()

    async with connect(library, admin_token, message_handler=on_message) as session:
        [book_id] = await import_books(session, "Subscribed", 1)
        uri = f"library://books/{book_id}"
        await session.subscribe_resource(uri)
        lent = await session.call_tool("lend_book", {"book_id": book_id})
        assert not lent.is_error, lent
        with anyio.fail_after(WAIT):
            await arrived.wait()
        assert uri in updates
        after = await session.read_resource(uri)
        [contents] = after.contents
        assert isinstance(contents, TextResourceContents)
        assert json.loads(contents.text)["available"] == 0

        # Another subscriber's view: the same change now reaches only the subscribed URI.
        await session.unsubscribe_resource(uri)
        await session.subscribe_resource("library://catalogue")
        updates.clear()
        arrived = anyio.Event()
        edited = await session.call_tool("books_update", {"id": book_id, "copies": 2})
        assert not edited.is_error, edited
        with anyio.fail_after(WAIT):
            await arrived.wait()
        await session.send_ping()
        assert updates == ["library://catalogue"]


# Prompts and completion ------------------------------------------------------------------


async def test_prompts(library: DaphneServer, admin_token: str) -> None:
    async with connect(library, admin_token) as session:
        listed = await session.list_prompts()
        prompts = {prompt.name: prompt for prompt in listed.prompts}
        summarise = prompts["summarise_loans"]
        assert summarise.title == "Summarise loans"
        assert summarise.arguments is not None
        assert [(arg.name, arg.required) for arg in summarise.arguments] == [
            ("genre", False),
            ("overdue_only", False),
        ]

        result = await session.get_prompt(
            "summarise_loans", {"genre": "science", "overdue_only": "false"}
        )
        first, second = result.messages
        assert isinstance(first.content, TextContent) and "science books" in first.content.text
        assert isinstance(second.content, EmbeddedResource)
        assert second.content.resource.mime_type == "application/json"

        image = await session.get_prompt("test_prompt_with_image")
        assert isinstance(image.messages[0].content, ImageContent)
        assert image.messages[0].content.mime_type == "image/png"

        arguments = await session.get_prompt(
            "test_prompt_with_arguments", {"arg1": "hello", "arg2": "world"}
        )
        assert isinstance(arguments.messages[0].content, TextContent)
        assert (
            arguments.messages[0].content.text
            == "Prompt with arguments: arg1='hello', arg2='world'"
        )

        with pytest.raises(MCPError) as raised:
            await session.get_prompt("test_prompt_with_arguments", {"arg1": "only one"})
        assert raised.value.code == -32602 and "arg2" in raised.value.message


async def test_prompt_hidden_from_users_without_permission(library: DaphneServer) -> None:
    assert library.token
    async with connect(library, library.token) as session:  # demo: no library.view_loan
        names = {prompt.name for prompt in (await session.list_prompts()).prompts}
        assert "summarise_loans" not in names and "test_simple_prompt" in names
        with pytest.raises(MCPError) as raised:
            await session.get_prompt("summarise_loans")
        assert raised.value.code == -32602


async def test_completion(library: DaphneServer, admin_token: str) -> None:
    async with connect(library, admin_token) as session:
        genre = await session.complete(
            PromptReference(type="ref/prompt", name="summarise_loans"),
            {"name": "genre", "value": "s"},
        )
        assert genre.completion.values == ["science"]
        author = await session.complete(
            ResourceTemplateReference(type="ref/resource", uri="library://authors/{name}"),
            {"name": "name", "value": "sag"},
        )
        assert author.completion.values == ["Carl Sagan"]
        with pytest.raises(MCPError) as raised:
            await session.complete(
                PromptReference(type="ref/prompt", name="nope"), {"name": "x", "value": ""}
            )
        assert raised.value.code == -32602


# Tool content types ------------------------------------------------------------------------


async def test_all_content_types(library: DaphneServer) -> None:
    assert library.token
    async with connect(library, library.token) as session:
        mixed = await session.call_tool("test_multiple_content_types", {})
        assert [block.type for block in mixed.content] == ["text", "image", "resource"]
        audio = await session.call_tool("test_audio_content", {})
        assert audio.content[0].type == "audio" and audio.content[0].mime_type == "audio/wav"
        embedded = await session.call_tool("test_embedded_resource", {})
        block = embedded.content[0]
        assert isinstance(block, EmbeddedResource)
        assert isinstance(block.resource, TextResourceContents)
        assert block.resource.text == "This is an embedded resource content."
        error = await session.call_tool("test_error_handling", {})
        assert (
            error.is_error
            and text_of(error) == "This tool intentionally returns an error for testing"
        )
        structured = await session.call_tool("echo", {"message": "hi"})
        assert structured.structured_content is not None
        assert structured.structured_content["echo"] == "hi"
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert (
            tools["json_schema_2020_12_tool"].input_schema["$defs"]["address"]["type"] == "object"
        )


# Logging and progress ---------------------------------------------------------------------


async def test_logging_follows_the_level(library: DaphneServer) -> None:
    assert library.token
    logs: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with connect(library, library.token, logging_callback=on_log) as session:
        result = await session.call_tool("test_tool_with_logging", {})
        assert text_of(result) == "Tool with logging executed successfully"
        await session.send_ping()
        assert [log.data for log in logs] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]
        assert {log.level for log in logs} == {"info"} and logs[
            0
        ].logger == "conformance-test-server"

        await session.set_logging_level("warning")
        logs.clear()
        await session.call_tool("test_tool_with_logging", {})
        await session.send_ping()
        assert logs == []


async def test_progress_stream_of_a_long_import(library: DaphneServer, admin_token: str) -> None:
    steps: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    async with connect(library, admin_token) as session:
        result = await session.call_tool(
            "import_catalogue", {"count": 5, "batch": "Progress"}, progress_callback=on_progress
        )
        assert not result.is_error, result
        assert result.structured_content is not None
        assert result.structured_content["imported"] == 5
        assert steps == [(float(n), 5.0, f"Imported Progress #{n}") for n in range(1, 6)]


async def test_conformance_progress_tool(library: DaphneServer) -> None:
    assert library.token
    steps: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(progress)

    async with connect(library, library.token) as session:
        await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert steps == [0.0, 50.0, 100.0]


# Cancellation ----------------------------------------------------------------------------


async def test_cancelling_an_import_really_stops_it(
    library: DaphneServer, admin_token: str
) -> None:
    progressed = anyio.Event()
    steps: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append(progress)
        if progress >= 3:
            progressed.set()

    async with connect(library, admin_token) as session:
        async with anyio.create_task_group() as group:

            async def run_import() -> None:
                await session.call_tool(
                    "import_catalogue",
                    {"count": 50, "batch": "Cancelled"},
                    progress_callback=on_progress,
                )

            group.start_soon(run_import)
            with anyio.fail_after(WAIT):
                await progressed.wait()
            # Cancelling the call makes the SDK send notifications/cancelled.
            group.cancel_scope.cancel()

        def imported(rows: list[dict[str, Any]]) -> int:
            return sum(row["title"].startswith("Cancelled #") for row in rows)

        first = imported(await catalogue(session))
        # Had the import gone on, ten more books would arrive in this second.
        await asyncio.sleep(1.0)
        second = imported(await catalogue(session))
        assert 3 <= first == second < 50
        # The session is still usable, and the cancelled call left nothing pending.
        assert text_of(await session.call_tool("test_simple_text", {})).startswith(
            "This is a simple"
        )


# Sampling, elicitation, roots ----------------------------------------------------------------


async def test_sampling_round_trip(library: DaphneServer) -> None:
    assert library.token
    seen: list[CreateMessageRequestParams] = []

    async with connect(library, library.token) as probe:
        cosmos = next(row for row in await catalogue(probe) if row["title"] == "Cosmos")

    async def sample(context: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
        seen.append(params)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=f"{cosmos['id']}: Cosmos, for its wonder."),
            model="test-model",
            stop_reason="endTurn",
        )

    async with connect(library, library.token, sampling_callback=sample) as session:
        result = await session.call_tool("recommend_book", {"interest": "the stars"})
        assert not result.is_error, result
        assert result.structured_content == {
            "book_id": cosmos["id"],
            "title": "Cosmos",
            "answer": f"{cosmos['id']}: Cosmos, for its wonder.",
            "model": "test-model",
        }
        [params] = seen
        assert params.max_tokens == 200 and params.system_prompt is not None
        prompt = params.messages[0].content
        assert isinstance(prompt, TextContent)
        assert "the stars" in prompt.text and "Pale Blue Dot" in prompt.text

        conformance = await session.call_tool("test_sampling", {"prompt": "Hello?"})
        assert text_of(conformance) == f"LLM response: {cosmos['id']}: Cosmos, for its wonder."


async def test_missing_sampling_capability(library: DaphneServer) -> None:
    assert library.token
    async with connect(library, library.token) as session:  # no sampling callback
        with pytest.raises(MCPError) as raised:
            await session.call_tool("recommend_book", {"interest": "anything"})
        assert raised.value.code == -32021
        assert raised.value.data == {"requiredCapabilities": {"sampling": {}}}
        assert "does not support sampling" in raised.value.message


async def test_withdraw_book_with_elicitation(library: DaphneServer, admin_token: str) -> None:
    asked: list[ElicitRequestParams] = []
    answers = [
        ElicitResult(action="decline"),
        ElicitResult(action="accept", content={"confirm": False}),
        ElicitResult(action="accept", content={"confirm": True, "reason": "Damaged"}),
    ]

    async def elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params)
        return answers[len(asked) - 1]

    async with connect(library, admin_token, elicitation_callback=elicit) as session:
        [book_id] = await import_books(session, "Withdrawn", 1)
        declined = await session.call_tool("withdraw_book", {"book_id": book_id})
        assert text_of(declined) == "'Withdrawn #1' stays in the catalogue (decline)."
        unconfirmed = await session.call_tool("withdraw_book", {"book_id": book_id})
        assert text_of(unconfirmed) == "'Withdrawn #1' stays in the catalogue (accept)."
        await session.read_resource(f"library://books/{book_id}")  # still there

        accepted = await session.call_tool("withdraw_book", {"book_id": book_id})
        assert text_of(accepted) == "Withdrew 'Withdrawn #1'."
        with pytest.raises(MCPError) as raised:
            await session.read_resource(f"library://books/{book_id}")
        assert raised.value.code == -32002

        question = asked[0]
        assert question.mode == "form" and "Withdraw 'Withdrawn #1'" in question.message
        schema = question.requested_schema
        assert schema["required"] == ["confirm"]
        assert schema["properties"]["confirm"]["type"] == "boolean"


async def test_withdraw_without_elicitation_support(
    library: DaphneServer, admin_token: str
) -> None:
    async with connect(library, admin_token) as session:
        [book_id] = await import_books(session, "Kept", 1)
        with pytest.raises(MCPError) as raised:
            await session.call_tool("withdraw_book", {"book_id": book_id})
        assert raised.value.code == -32021
        assert raised.value.data == {"requiredCapabilities": {"elicitation": {"form": {}}}}
        await session.read_resource(f"library://books/{book_id}")  # not deleted


async def test_conformance_elicitation_tools(library: DaphneServer) -> None:
    assert library.token

    async def elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        assert params.mode == "form"
        if "username" in params.requested_schema["properties"]:
            return ElicitResult(
                action="accept", content={"username": "ada", "email": "ada@example.com"}
            )
        return ElicitResult(action="cancel")

    async with connect(library, library.token, elicitation_callback=elicit) as session:
        result = await session.call_tool("test_elicitation", {"message": "Who are you?"})
        assert text_of(result) == (
            'User response: action=accept, content={"username":"ada","email":"ada@example.com"}'
        )
        defaults = await session.call_tool("test_elicitation_sep1034_defaults", {})
        assert text_of(defaults) == "Elicitation completed: action=cancel, content={}"
        enums = await session.call_tool("test_elicitation_sep1330_enums", {})
        assert text_of(enums) == "Elicitation completed: action=cancel, content={}"


async def test_roots(library: DaphneServer) -> None:
    assert library.token

    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri="file:///home/reader/library", name="Library")])

    async with connect(library, library.token, list_roots_callback=roots) as session:
        result = await session.call_tool("export_catalogue", {"filename": "books.csv"})
        block = result.content[0]
        assert isinstance(block, EmbeddedResource)
        assert block.resource.uri == "file:///home/reader/library/books.csv"
        assert isinstance(block.resource, TextResourceContents)
        assert block.resource.text.startswith("id,title,author,genre,published,available")

    async with connect(library, library.token) as session:  # no roots: a library:// URI
        result = await session.call_tool("export_catalogue", {})
        block = result.content[0]
        assert isinstance(block, EmbeddedResource)
        assert block.resource.uri == "library://exports/catalogue.csv"
