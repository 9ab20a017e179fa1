"""Session operations against real daphne workers: the worker sync, the call log,
terminate from another process, and the cleanup of a killed worker's sessions."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DaphneServer
from tests.e2e.helpers import SseStream, open_stream

SYNC = "0.3"  # seconds between worker syncs in these tests


def ping(request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "ping"}


async def connect(server: DaphneServer, client_name: str) -> SseStream:
    assert server.token is not None
    session = await open_stream(server.base_url, server.token)
    reply = await session.request(
        "initialize",
        {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1.0"},
        },
        request_id="init",
    )
    assert reply["result"]["protocolVersion"] == "2024-11-05"
    notified = await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert notified.status_code == 202
    return session


def sessions(server: DaphneServer) -> dict[str, dict[str, Any]]:
    out = server.manage("mcp_sessions", "--all", "--json").stdout
    return {row["id"]: row for row in map(json.loads, out.splitlines())}


def query(server: DaphneServer, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.env["EXAMPLE_SQLITE_PATH"], timeout=20) as db:
        return list(db.execute(sql, params))


def row(server: DaphneServer, session_id: str) -> dict[str, Any]:
    """The session's row, read straight from the SQLite file (quicker than a command)."""
    fields = ("request_count", "error_count", "close_reason", "closed_at")
    [values] = query(
        server, f"SELECT {', '.join(fields)} FROM django_mcp_mcpsession WHERE id = ?", session_id
    )
    return dict(zip(fields, values, strict=True))


async def until(predicate: Callable[[], bool], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_worker_sync_writes_counters_and_the_call_log(
    daphne_server: Callable[..., DaphneServer],
) -> None:
    server = daphne_server(DJANGO_MCP_SESSION_SYNC_INTERVAL=SYNC)
    session = await connect(server, "counting-client")
    try:
        ok = await session.request(
            "tools/call", {"name": "echo", "arguments": {"message": "hi"}}, request_id=1
        )
        assert ok["result"]["isError"] is False
        failed = await session.request(
            "tools/call",
            {"name": "server_time", "arguments": {"timezone": "Mars/Olympus"}},
            request_id=2,
        )
        assert failed["result"]["isError"] is True
        unknown = await session.request(
            "tools/call", {"name": "nope", "arguments": {}}, request_id=3
        )
        assert unknown["error"]["code"] == -32602

        # The counters reach the row at the next worker sync, not per message.
        await until(lambda: row(server, session.session_id)["request_count"] == 4)
        listed = sessions(server)[session.session_id]
        assert listed["request_count"] == 4
        assert listed["error_count"] == 1
        assert listed["client_name"] == "counting-client"
        assert listed["live"] is True

        await until(lambda: len(query(server, "SELECT id FROM django_mcp_toolcall")) == 3)
        calls = query(
            server,
            "SELECT tool, outcome, session_id, arguments, error FROM django_mcp_toolcall "
            "ORDER BY started_at",
        )
        assert [(tool, outcome) for tool, outcome, *_ in calls] == [
            ("echo", "ok"),
            ("server_time", "tool-error"),
            ("nope", "protocol-error"),
        ]
        assert {call[2] for call in calls} == {session.session_id}
        assert json.loads(calls[0][3]) == {"message": "hi"}
        assert "Mars/Olympus" in calls[1][4]
    finally:
        await session.close()
    await until(lambda: row(server, session.session_id)["close_reason"] == "client-disconnect")


async def test_a_killed_workers_sessions_are_closed_as_worker_lost(
    daphne_server: Callable[..., DaphneServer],
) -> None:
    doomed_worker = daphne_server(DJANGO_MCP_SESSION_SYNC_INTERVAL=SYNC)
    healthy_worker = daphne_server(
        prepare_db=False,
        token=doomed_worker.token,
        EXAMPLE_SQLITE_PATH=doomed_worker.env["EXAMPLE_SQLITE_PATH"],
        DJANGO_MCP_SESSION_SYNC_INTERVAL=SYNC,
    )
    doomed = await connect(doomed_worker, "doomed-client")
    healthy = await connect(healthy_worker, "healthy-client")
    try:
        doomed_worker.process.send_signal(signal.SIGKILL)
        doomed_worker.process.wait(timeout=10)
        await doomed.wait(lambda: doomed.ended, 10)
        # Nobody closed the row: the worker died without a word.
        assert row(healthy_worker, doomed.session_id)["closed_at"] is None

        # Once its heartbeat is older than the threshold, the cron job closes it;
        # the healthy worker's heartbeat keeps its session out of reach.
        await asyncio.sleep(2.5)
        out = healthy_worker.manage("mcp_clearsessions", "--stale-after", "2").stdout
        assert "Closed 1 stale session(s)" in out
        rows = sessions(healthy_worker)
        assert rows[doomed.session_id]["live"] is False
        assert rows[doomed.session_id]["close_reason"] == "worker-lost"
        assert rows[healthy.session_id]["live"] is True
        reply = await healthy.request("ping", request_id="still-here")
        assert reply["result"] == {}
    finally:
        await doomed.close()
        await healthy.close()


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("layer", ["redis", "memory"])
async def test_terminate_from_another_process(
    daphne_server: Callable[..., DaphneServer], layer: str
) -> None:
    """With Redis the command reaches the worker through the channel layer at once;
    with the in-memory layer the worker notices the closed row at its next sync."""
    env: dict[str, str] = {"EXAMPLE_CHANNEL_LAYER": layer}
    if layer == "redis":
        if not redis_available():
            if os.environ.get("CI"):
                pytest.fail("Redis is not running on 127.0.0.1:6379")
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        # A sync interval far longer than the test: only the channel layer can close it.
        env |= {
            "EXAMPLE_CHANNEL_PREFIX": f"ops{secrets.token_hex(4)}",
            "DJANGO_MCP_SESSION_SYNC_INTERVAL": "600",
        }
    else:
        env["DJANGO_MCP_SESSION_SYNC_INTERVAL"] = SYNC
    server = daphne_server(**env)
    doomed = await connect(server, "doomed-client")
    bystander = await connect(server, "bystander-client")
    try:
        out = server.manage("mcp_sessions", "--terminate", doomed.session_id).stdout
        assert f"Terminated {doomed.session_id}" in out
        await doomed.wait(lambda: doomed.ended, 10)
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            after = await client.post(doomed.endpoint, json=ping(1), headers=doomed.headers)
        assert after.status_code == 404, after.text
        assert sessions(server)[doomed.session_id]["close_reason"] == "terminated"
        assert not bystander.ended
        assert (await bystander.request("ping", request_id="alive"))["result"] == {}
    finally:
        await doomed.close()
        await bystander.close()
