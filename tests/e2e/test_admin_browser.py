"""The sessions admin in a real browser: headless Debian Chromium driven by Playwright,
against a real daphne server with two live MCP clients.

A staff user logs in, sees both live sessions by client name, opens one and
terminates it with the button; that client's stream closes while the other
client keeps working. The final page is saved as ``docs/img/admin-sessions.png``
for the operations docs.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO_ROOT, DaphneServer
from tests.e2e.helpers import SseStream, open_stream

CHROMIUM = Path(os.environ.get("DJANGO_MCP_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = REPO_ROOT / "docs" / "img" / "admin-sessions.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SESSIONS_URL = "/admin/django_mcp/mcpsession/"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A page of a fresh headless Chromium profile (Debian's chromium, never a download)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240  (one stat, before the browser starts)
        _missing(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1680, "height": 600},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await context.close()


async def raw_client(server: DaphneServer, name: str) -> SseStream:
    assert server.token is not None
    session = await open_stream(server.base_url, server.token)
    reply = await session.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": name, "version": "1.0"},
        },
        request_id="init",
    )
    assert "result" in reply, reply
    await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


def logged_calls(server: DaphneServer, session_id: str) -> int:
    with sqlite3.connect(server.env["EXAMPLE_SQLITE_PATH"], timeout=20) as db:
        [(count,)] = db.execute(
            "SELECT COUNT(*) FROM django_mcp_toolcall WHERE session_id = ?", (session_id,)
        )
    return int(count)


async def until(predicate: Callable[[], bool], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_staff_terminates_a_live_session_from_the_admin(
    daphne_server: Callable[..., DaphneServer], browser: Any
) -> None:
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp_types import Implementation

    server = daphne_server()
    page = browser
    alpha = await raw_client(server, "alpha-client")
    try:
        echoed = await alpha.request(
            "tools/call", {"name": "echo", "arguments": {"message": "hello admin"}}, request_id=1
        )
        assert echoed["result"]["isError"] is False
        async with (
            sse_client(
                server.sse_url, headers=server.auth_headers, timeout=10, sse_read_timeout=60
            ) as (read, write),
            ClientSession(
                read,
                write,
                read_timeout_seconds=15,
                client_info=Implementation(name="beta-client", version="2.0"),
            ) as beta,
        ):
            await beta.initialize()
            await until(lambda: logged_calls(server, alpha.session_id) == 1)

            # Log in as staff and find both live sessions by client name.
            await page.goto(server.url(f"/admin/login/?next={SESSIONS_URL}%3Fstate%3Dlive"))
            await page.fill("#id_username", "admin")
            await page.fill("#id_password", "admin")
            await page.click("input[type=submit]")
            await page.wait_for_url(f"**{SESSIONS_URL}?state=live")
            results = page.locator("#result_list tbody tr")
            await until_count(results, 2)
            alpha_row = results.filter(has_text="alpha-client 1.0")
            beta_row = results.filter(has_text="beta-client 2.0")
            assert await alpha_row.count() == 1
            assert await beta_row.count() == 1
            assert "live" in await alpha_row.locator(".mcp-state").inner_text()
            assert "live" in await beta_row.locator(".mcp-state").inner_text()

            # Its detail page shows the tool call it made; terminate it there.
            await alpha_row.locator("th a").click()
            await page.wait_for_selector("#mcp-terminate")
            detail = await page.locator("#content").inner_text()
            assert "alpha-client" in detail
            assert "echo" in detail
            await page.click("#mcp-terminate")
            await page.wait_for_selector(".messagelist .success")
            assert "terminated" in await page.locator(".messagelist").inner_text()
            assert await page.locator("#mcp-terminate").count() == 0

            # The terminated client's stream ends, and its endpoint is gone.
            await alpha.wait(lambda: alpha.ended, 10)
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                after = await http.post(
                    alpha.endpoint,
                    json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                    headers=alpha.headers,
                )
            assert after.status_code == 404, after.text

            # The other client still works.
            await beta.send_ping()
            result = await beta.call_tool("echo", {"message": "still here"})
            assert result.is_error is False
            assert result.structured_content is not None
            assert result.structured_content["echo"] == "still here"

            # The list now shows one live and one terminated session.
            await page.goto(server.url(SESSIONS_URL))
            rows = page.locator("#result_list tbody tr")
            await until_count(rows, 2)
            state = await rows.filter(has_text="alpha-client").locator(".mcp-state").inner_text()
            assert "terminated by admin" in state
            assert (
                "live"
                in await rows.filter(has_text="beta-client").locator(".mcp-state").inner_text()
            )
            # Fold the navigation sidebar so the whole table fits the picture.
            toggle = page.locator("#toggle-nav-sidebar")
            if await toggle.count():
                await toggle.click()
            await page.evaluate("window.scrollTo(0, 0)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT))
    finally:
        await alpha.close()
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def until_count(locator: Any, expected: int, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while await locator.count() != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {expected} rows, saw {await locator.count()}")
        await asyncio.sleep(0.1)
