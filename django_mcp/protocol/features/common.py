"""Calling user functions (resources, prompts) the way tools are called."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from django_mcp.permissions import Permission, permits

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession


def _run_sync(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    close_old_connections()
    try:
        return func(**kwargs)
    finally:
        close_old_connections()


async def call(func: Callable[..., Any], is_async: bool, kwargs: dict[str, Any]) -> Any:
    """Await an async function, or run a sync one in a thread of its own."""
    if is_async:
        return await func(**kwargs)
    return await sync_to_async(_run_sync, thread_sensitive=False)(func, kwargs)


async def allowed(session: ServerSession, permission: Permission) -> bool:
    """Whether the session's user passes ``permission``; callables run in a thread."""
    if callable(permission):
        return await sync_to_async(permits, thread_sensitive=False)(permission, session.user)
    return permits(permission, session.user)


async def visible(session: ServerSession, items: list[Any]) -> list[Any]:
    """The items (resources or prompts) the session's user may see."""
    return [item for item in items if await allowed(session, item.permission)]
