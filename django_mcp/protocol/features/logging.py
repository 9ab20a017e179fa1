"""``logging/setLevel``: the lowest level of log messages the client wants."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_mcp.protocol.context import LOG_LEVELS
from django_mcp.protocol.jsonrpc import InvalidParams

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession


async def set_level(session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
    level = params.get("level")
    if not isinstance(level, str) or level not in LOG_LEVELS:
        raise InvalidParams(f'Invalid params: "level" must be one of {", ".join(LOG_LEVELS)}')
    session.log_level = level
    return {}
