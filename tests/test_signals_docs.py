"""The signal receivers shown in docs/reference/signals.md work as the page says."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from django_mcp import calllog, store
from django_mcp.models import McpSession
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.session import ServerSession
from django_mcp.registry import Registry
from django_mcp.signals import session_closed, tool_called

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "signals.md"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def example() -> Iterator[dict[str, Any]]:
    """Run the page's example module; disconnect its receivers afterwards."""
    text = PAGE.read_text()
    match = re.search(r"<!-- tested: signals-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the tested example is missing from signals.md"
    namespace: dict[str, Any] = {"__name__": "signals_example"}
    exec(compile(match.group(1), str(PAGE), "exec"), namespace)
    calllog.recorder._pending.clear()
    yield namespace
    tool_called.disconnect(namespace["watch_tool_calls"])
    session_closed.disconnect(namespace["watch_lost_workers"])


tools = Registry()


@tools.tool
def broken() -> str:
    raise ValueError("disk full")


async def test_tool_failures_are_logged(
    example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    user = await get_user_model().objects.acreate(username="ada")

    async def discard(message: Any) -> None:
        return None

    session = ServerSession(
        session_id="s1", user=user, send=discard, handlers=Handlers(tools), transport="sse"
    )
    with caplog.at_level(logging.INFO, logger="mysite.mcp"):
        await session.handlers.tools_call(session, {"name": "broken"})
        await calllog.recorder.drain()
    assert "MCP tool broken failed for ada: disk full" in caplog.text


def test_lost_workers_are_reported(
    example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    user = get_user_model().objects.create(username="bob")
    McpSession.objects.create(id="gone", user=user, heartbeat_at=timezone.now())
    with caplog.at_level(logging.ERROR, logger="mysite.mcp"):
        store.close_stale(stale_after=0)
    assert "MCP session gone of bob lost its worker" in caplog.text
