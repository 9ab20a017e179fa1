"""Tools the unit tests call through the protocol core."""

from __future__ import annotations

import asyncio
from typing import Annotated

from django.contrib.auth import get_user_model
from pydantic import Field
from typing_extensions import TypedDict

from django_mcp.exceptions import ToolError
from django_mcp.protocol.context import Context
from django_mcp.registry import tool


class Sum(TypedDict):
    total: int
    count: int


@tool
def add(a: int, b: Annotated[int, Field(description="The second number")] = 2) -> Sum:
    """Add two numbers."""
    return {"total": a + b, "count": 2}


@tool(name="whoami", read_only=True)
async def who_am_i(ctx: Context) -> str:
    return str(ctx.user)


@tool
def fail(message: str) -> str:
    raise ToolError(message)


@tool
def crash() -> str:
    raise RuntimeError("kaboom")


@tool(permission="auth.view_user")
def staff_report() -> list[str]:
    return ["secret"]


#: What ``slow`` went through, so tests can see it was cancelled, not finished.
SLOW_EVENTS: list[str] = []


@tool
async def slow(seconds: float = 30.0) -> str:
    """Sleep, then answer; tests cancel it while it sleeps."""
    SLOW_EVENTS.append("started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        SLOW_EVENTS.append("cancelled")
        raise
    SLOW_EVENTS.append("finished")
    return "done"


@tool
def user_count() -> int:
    """A sync tool that reads the database from a worker thread."""
    return get_user_model().objects.count()


@tool
async def my_username(ctx: Context) -> str:
    """An async tool that reads the database through the async ORM."""
    user = await get_user_model().objects.aget(pk=ctx.user.pk)
    return user.get_username()


class ContextInfo(TypedDict):
    session_id: str
    transport: str
    meta: dict[str, str]
    request_id: int | str | None


@tool
def context_info(ctx: Context | None = None) -> ContextInfo:
    assert ctx is not None
    return {
        "session_id": ctx.session_id,
        "transport": ctx.transport,
        "meta": ctx.meta,
        "request_id": ctx.request_id,
    }
