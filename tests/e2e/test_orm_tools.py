"""The example library's model toolsets through real daphne and the official SDK client.

Each test module run starts one server per database backend (SQLite, and
PostgreSQL on a database of its own that is dropped afterwards). The users:

- ``demo`` (token from ``demo_setup``): may only add loans, so it sees the open
  catalogue (``books_search``/``books_get``), its own loans and ``lend_book``;
- ``admin``: a superuser, sees every tool;
- ``clerk``: may view and change authors, nothing else.

The generated tool definitions are compared with ``tests/snapshots/orm_tools.json``;
after a deliberate change, regenerate it with ``UPDATE_SNAPSHOTS=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from .conftest import DaphneLauncher, DaphneServer

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "orm_tools.json"
GENERATED_PREFIXES = ("authors_", "books_", "loans_")

SETUP_USERS = """
from django.contrib.auth.models import Permission, User
clerk = User.objects.create_user("clerk")
codenames = ["view_author", "change_author"]
clerk.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
"""


def _postgres_database() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    name = f"mcp_orm_{secrets.token_hex(4)}"
    dsn = os.environ.get(
        "ORM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def library(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A server on one backend, with tokens for demo, admin and clerk."""
    env: dict[str, str] = {"EXAMPLE_DB": request.param}
    databases = _postgres_database() if request.param == "postgres" else None
    if databases is not None:
        env["EXAMPLE_PG_NAME"] = next(databases)
    launcher = DaphneLauncher(tmp_path_factory, f"orm-{request.param}")
    try:
        server = launcher.start(**env)
        server.manage("shell", "-c", SETUP_USERS)
        yield {
            "server": server,
            "demo": server.token,
            "admin": server.create_token("admin"),
            "clerk": server.create_token("clerk"),
        }
    finally:
        launcher.stop_all()
        if databases is not None:
            next(databases, None)


@asynccontextmanager
async def connect(server: DaphneServer, token: str) -> AsyncIterator[ClientSession]:
    async with (
        sse_client(
            server.sse_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            sse_read_timeout=60,
        ) as (read, write),
        ClientSession(read, write, read_timeout_seconds=30) as session,
    ):
        await session.initialize()
        # Listing first lets the client validate structuredContent against each outputSchema.
        await session.list_tools()
        yield session


async def call(session: ClientSession, tool: str, /, **arguments: Any) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # The same data is readable as text.
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def error_text(session: ClientSession, tool: str, /, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def titles(page: dict[str, Any]) -> list[str]:
    return [book["title"] for book in page["results"]]


async def test_tool_definitions_match_the_reviewed_snapshot(library: dict[str, Any]) -> None:
    async with connect(library["server"], library["admin"]) as session:
        listed = await session.list_tools()
    generated = [
        tool.model_dump(by_alias=True, exclude_none=True, mode="json")
        for tool in listed.tools
        if tool.name.startswith(GENERATED_PREFIXES)
    ]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(generated, indent=2, ensure_ascii=False) + "\n")
    assert generated == json.loads(SNAPSHOT.read_text())


async def test_each_user_sees_only_the_tools_they_may_use(library: dict[str, Any]) -> None:
    server = library["server"]
    async with connect(server, library["demo"]) as session:
        demo_tools = {tool.name for tool in (await session.list_tools()).tools}
        for forbidden in ("books_create", "books_update", "books_delete", "authors_search"):
            with pytest.raises(MCPError) as caught:
                await session.call_tool(forbidden, {"id": 1})
            assert caught.value.code == -32602
            assert caught.value.message == f"Unknown tool: {forbidden}"
    async with connect(server, library["clerk"]) as session:
        clerk_tools = {tool.name for tool in (await session.list_tools()).tools}
    assert {"books_search", "books_get", "loans_search", "loans_get", "lend_book"} <= demo_tools
    assert not {name for name in demo_tools if name.startswith("authors_")}
    assert not {"books_create", "books_update", "books_delete"} & demo_tools
    assert {name for name in clerk_tools if name.startswith("authors_")} == {
        "authors_search",
        "authors_get",
        "authors_update",
    }


async def test_search_filter_order_and_paginate(library: dict[str, Any]) -> None:
    async with connect(library["server"], library["demo"]) as session:
        first = await call(session, "books_search", limit=3)
        assert titles(first) == ["A Brief History of Time", "A Wizard of Earthsea", "Cosmos"]
        pages = [first]
        while pages[-1]["next_cursor"]:
            pages.append(
                await call(session, "books_search", limit=3, cursor=pages[-1]["next_cursor"])
            )
        assert len(pages) == 3
        everything = [title for page in pages for title in titles(page)]
        assert everything == sorted(everything) and len(everything) == 8

        science = await call(session, "books_search", genre="science", order_by="-published")
        assert titles(science) == ["Pale Blue Dot", "A Brief History of Time", "Cosmos"]
        older = await call(session, "books_search", published__lte=1970, genre__in=["fiction"])
        assert titles(older) == ["A Wizard of Earthsea", "The Left Hand of Darkness"]
        found = await call(session, "books_search", query="sagan blue")
        assert titles(found) == ["Pale Blue Dot"]
        by_isbn = await call(session, "books_search", query="9781631492228")
        assert titles(by_isbn) == ["SPQR"]
        by_author = await call(session, "books_search", order_by="author__name", limit=2)
        assert [book["author"]["name"] for book in by_author["results"]] == [
            "Carl Sagan",
            "Carl Sagan",
        ]

        stale = await error_text(
            session, "books_search", order_by="-published", cursor=first["next_cursor"]
        )
        assert stale.startswith("Invalid cursor")
        with pytest.raises(MCPError) as too_many:
            await session.call_tool("books_search", {"limit": 1000})
        assert too_many.value.code == -32602


async def test_get(library: dict[str, Any]) -> None:
    async with connect(library["server"], library["demo"]) as session:
        spqr = (await call(session, "books_search", query="SPQR"))["results"][0]
        book = await call(session, "books_get", id=spqr["id"])
        assert book == spqr
        assert book["author"]["name"] == "Mary Beard"
        assert book["genre"] == "history" and book["available"] == book["copies"] == 2
        assert await error_text(session, "books_get", id=987654) == "No book with id 987654."


async def test_create_update_delete_with_field_errors(library: dict[str, Any]) -> None:
    async with connect(library["server"], library["admin"]) as session:
        refused = await error_text(session, "authors_create", name="Carl Sagan", born=1934)
        assert refused == (
            "The author was not saved: the data is invalid.\n"
            "- name: Author with this Name already exists."
        )
        author = await call(session, "authors_create", name="Octavia E. Butler", born=1947)
        assert author == {"id": author["id"], "name": "Octavia E. Butler", "born": 1947}

        invalid = await error_text(
            session,
            "books_create",
            title="",
            author=author["id"],
            isbn="9780345539434",
            published=1979,
        )
        assert invalid.splitlines() == [
            "The book was not saved: the data is invalid.",
            "- title: This field cannot be blank.",
            "- isbn: Book with this ISBN already exists.",
        ]
        book = await call(
            session,
            "books_create",
            title="Kindred",
            author=author["id"],
            isbn="9780807083697",
            published=1979,
        )
        assert book["author"] == {"id": author["id"], "name": "Octavia E. Butler"}
        assert (book["genre"], book["copies"], book["available"]) == ("fiction", 1, 1)

        updated = await call(session, "books_update", id=book["id"], copies=3, genre="fiction")
        assert (updated["copies"], updated["available"], updated["title"]) == (3, 3, "Kindred")
        bad_update = await error_text(session, "books_update", id=book["id"], author=424242)
        assert "- author: author instance with id 424242 is not a valid choice." in bad_update
        born_unknown = await call(session, "authors_update", id=author["id"], born=None)
        assert born_unknown["born"] is None

        protected = await error_text(session, "authors_delete", id=author["id"])
        assert protected == (
            f"Cannot delete author {author['id']}: it is still referenced by 1 books."
        )
        assert await call(session, "books_delete", id=book["id"]) == {
            "id": book["id"],
            "deleted": True,
        }
        assert await call(session, "authors_delete", id=author["id"]) == {
            "id": author["id"],
            "deleted": True,
        }
        assert await error_text(session, "books_get", id=book["id"]) == (
            f"No book with id {book['id']}."
        )


async def test_loans_are_scoped_to_their_borrower(library: dict[str, Any]) -> None:
    server = library["server"]
    async with connect(server, library["demo"]) as session:
        cosmos = (await call(session, "books_search", query="cosmos"))["results"][0]
        demo_loan = await call(session, "lend_book", book_id=cosmos["id"], days=7)
    async with connect(server, library["admin"]) as session:
        admin_loan = await call(session, "lend_book", book_id=cosmos["id"])
        admin_view = await call(session, "loans_search")
        assert [loan["id"] for loan in admin_view["results"]] == [admin_loan["loan_id"]]
        assert await error_text(session, "loans_get", id=demo_loan["loan_id"]) == (
            f"No loan with id {demo_loan['loan_id']}."
        )
        after = await call(session, "books_get", id=cosmos["id"])
        assert after["available"] == cosmos["available"] - 2
    async with connect(server, library["demo"]) as session:
        mine = await call(session, "loans_search", returned_at__isnull=True)
        assert [loan["id"] for loan in mine["results"]] == [demo_loan["loan_id"]]
        assert mine["results"][0]["book"] == {"id": cosmos["id"], "title": "Cosmos"}
        assert await error_text(session, "loans_get", id=admin_loan["loan_id"]) == (
            f"No loan with id {admin_loan['loan_id']}."
        )
