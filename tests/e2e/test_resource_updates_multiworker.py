"""Resource updates across workers: a subscriber on worker A hears about an ORM save
made through worker B, over the Redis channel layer, with PostgreSQL shared.

Each worker runs one broadcast listener (``django_mcp.broadcast``); the second test
uses the list-based Redis layer with a two-second group expiry, and waits past it,
to show the listener renews its membership.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp_types import ResourceUpdatedNotification, TextResourceContents

from tests.e2e.conftest import DaphneServer

pytestmark = [
    pytest.mark.multiworker,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

WAIT = 20.0
PG = {"host": "127.0.0.1", "user": "postgres"}


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@pytest.fixture
def pg_database() -> Iterator[str]:
    if not (_reachable(5432) and _reachable(6379)):
        pytest.skip("PostgreSQL on :5432 and Redis on :6379 are needed")
    name = f"mcp_res_{secrets.token_hex(4)}"
    subprocess.run(["createdb", "-h", PG["host"], "-U", PG["user"], name], check=True)
    try:
        yield name
    finally:
        subprocess.run(
            ["dropdb", "-h", PG["host"], "-U", PG["user"], "--force", "--if-exists", name],
            check=False,
        )


def two_workers(daphne_server: Any, database: str, **env: Any) -> tuple[DaphneServer, DaphneServer]:
    settings = {
        "EXAMPLE_DB": "postgres",
        "EXAMPLE_PG_NAME": database,
        "EXAMPLE_CHANNEL_PREFIX": f"res{secrets.token_hex(4)}",
        **env,
    }
    first = daphne_server(**settings)
    second = daphne_server(prepare_db=False, token=first.token, **settings)
    return first, second


@contextlib.asynccontextmanager
async def connect(server: DaphneServer, token: str, **options: Any) -> AsyncIterator[ClientSession]:
    async with (
        sse_client(server.sse_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as (
            read,
            write,
        ),
        ClientSession(read, write, read_timeout_seconds=WAIT, **options) as session,
    ):
        await session.initialize()
        yield session


async def subscriber_hears_save_on_other_worker(
    worker_a: DaphneServer, worker_b: DaphneServer, wait_before_save: float = 0.0
) -> None:
    token = worker_a.token
    assert token
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(message.params.uri)
            arrived.set()

    async with (
        connect(worker_a, token, message_handler=on_message) as subscriber,
        connect(worker_b, token) as writer,
    ):
        catalogue = await writer.read_resource("library://catalogue")
        [contents] = catalogue.contents
        assert isinstance(contents, TextResourceContents)
        book = next(row for row in json.loads(contents.text) if row["title"] == "Cosmos")
        uri = f"library://books/{book['id']}"
        await subscriber.subscribe_resource(uri)
        if wait_before_save:
            await anyio.sleep(wait_before_save)

        # lend_book creates a Loan through the ORM on worker B; watch_model(Loan, ...)
        # publishes library://books/{book_id} once the transaction commits.
        lent = await writer.call_tool("lend_book", {"book_id": book["id"]})
        assert not lent.is_error, lent

        with anyio.fail_after(WAIT):
            await arrived.wait()
        assert updates == [uri]
        after = await subscriber.read_resource(uri)
        [detail] = after.contents
        assert isinstance(detail, TextResourceContents)
        assert json.loads(detail.text)["available"] == book["available"] - 1


async def test_update_reaches_a_subscriber_on_another_worker(
    daphne_server: Any, pg_database: str
) -> None:
    worker_a, worker_b = two_workers(daphne_server, pg_database, EXAMPLE_CHANNEL_LAYER="redis")
    await subscriber_hears_save_on_other_worker(worker_a, worker_b)


async def test_listener_outlives_the_group_expiry(daphne_server: Any, pg_database: str) -> None:
    worker_a, worker_b = two_workers(
        daphne_server, pg_database, EXAMPLE_CHANNEL_LAYER="redis-core", EXAMPLE_GROUP_EXPIRY=2
    )
    await subscriber_hears_save_on_other_worker(worker_a, worker_b, wait_before_save=5.0)
