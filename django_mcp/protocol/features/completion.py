"""``completion/complete``: suggestions for prompt arguments and template variables."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mcp_types import CompleteResult, Completion

from django_mcp.completion import complete
from django_mcp.protocol.features.common import allowed
from django_mcp.protocol.handlers import dump
from django_mcp.protocol.jsonrpc import InternalError, InvalidParams

if TYPE_CHECKING:
    from django_mcp.prompts import Prompt
    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession
    from django_mcp.resources import Resource

logger = logging.getLogger("django_mcp")

EMPTY = Completion(values=[], total=0, has_more=False)


class CompletionMethods:
    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers

    async def target(self, session: ServerSession, ref: Any) -> Prompt | Resource:
        """The prompt or resource template ``ref`` names, if the caller may see it."""
        if not isinstance(ref, dict):
            raise InvalidParams('Invalid params: "ref" must be an object')
        registry = self.handlers.registry
        kind = ref.get("type")
        found: Prompt | Resource | None
        if kind == "ref/prompt":
            name = ref.get("name")
            if not isinstance(name, str):
                raise InvalidParams('Invalid params: "ref.name" must be a string')
            found = registry.get_prompt(name)
            label = f"Unknown prompt: {name[:200]}"
        elif kind == "ref/resource":
            uri = ref.get("uri")
            if not isinstance(uri, str):
                raise InvalidParams('Invalid params: "ref.uri" must be a string')
            found = registry.get_resource_template(uri)
            label = f"Unknown resource template: {uri[:200]}"
        else:
            raise InvalidParams('Invalid params: "ref.type" must be "ref/prompt" or "ref/resource"')
        if found is None or not await allowed(session, found.permission):
            raise InvalidParams(label)
        return found

    async def complete(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        target = await self.target(session, params.get("ref"))
        argument = params.get("argument")
        if not isinstance(argument, dict):
            raise InvalidParams('Invalid params: "argument" must be an object')
        name, value = argument.get("name"), argument.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidParams('Invalid params: "argument.name" and "argument.value" are strings')
        if name not in target.signature.input_schema.get("properties", {}):
            raise InvalidParams(f"Invalid params: {target.name} has no argument {name[:200]!r}")
        context = params.get("context")
        given = context.get("arguments") if isinstance(context, dict) else None
        arguments = (
            {str(key): str(item) for key, item in given.items()} if isinstance(given, dict) else {}
        )
        completer = target.completer(name)
        if completer is None:
            return dump(CompleteResult(completion=EMPTY))
        try:
            completion = await complete(completer, value, arguments)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("MCP completer for %s.%s raised", target.name, name)
            raise InternalError(f"Internal error completing {name[:200]}") from None
        return dump(CompleteResult(completion=completion))
