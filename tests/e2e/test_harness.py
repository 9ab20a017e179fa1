"""Smoke tests of the e2e harness itself: health, the server factory, shared databases."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import DaphneServer


def _read_sse(server: DaphneServer, token: str, seconds: float, min_lines: int = 2) -> list[str]:
    """Open GET /mcp/sse; return the raw lines received in ``seconds`` (at least ``min_lines``)."""
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=seconds + 5.0)) as client,
        client.stream("GET", server.sse_url, headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if len(lines) >= min_lines and time.monotonic() >= deadline:
                break
    return lines


def test_health(server: DaphneServer) -> None:
    response = httpx.get(server.url("/mcp/health"), timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert server.is_running()
    assert server.token


def test_sse_first_event_is_endpoint(server: DaphneServer) -> None:
    assert server.token is not None
    lines = _read_sse(server, server.token, seconds=0.0)
    assert lines[0] == "event: endpoint", lines
    assert lines[1].startswith("data: /mcp/messages/?session_id="), lines


def test_factory_env_token_and_heartbeat(daphne_server: Callable[..., DaphneServer]) -> None:
    srv = daphne_server(DJANGO_MCP_HEARTBEAT_INTERVAL=0.2)
    assert srv.env["DJANGO_MCP_HEARTBEAT_INTERVAL"] == "0.2"
    assert srv.env["EXAMPLE_SQLITE_PATH"].startswith(str(srv.workdir))

    admin_token = srv.create_token("admin")
    assert admin_token and admin_token != srv.token

    lines = _read_sse(srv, admin_token, seconds=1.5)
    assert lines[0] == "event: endpoint", lines
    assert sum(1 for line in lines if line.startswith(":")) >= 2, lines


def test_second_worker_shares_the_database(daphne_server: Callable[..., DaphneServer]) -> None:
    first = daphne_server()
    second = daphne_server(
        prepare_db=False,
        token=first.token,
        EXAMPLE_SQLITE_PATH=first.env["EXAMPLE_SQLITE_PATH"],
    )
    assert second.port != first.port
    assert second.token == first.token
    lines = _read_sse(second, first.token or "", seconds=0.0)
    assert lines[0] == "event: endpoint", lines


def test_bad_token_is_rejected(server: DaphneServer) -> None:
    response = httpx.get(
        server.sse_url, headers={"Authorization": "Bearer definitely-wrong"}, timeout=5
    )
    assert response.status_code == 401
