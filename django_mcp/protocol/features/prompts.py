"""``prompts/list`` and ``prompts/get``."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from mcp_types import ListPromptsResult

from django_mcp.conf import mcp_settings
from django_mcp.exceptions import ToolError
from django_mcp.prompts import to_result
from django_mcp.protocol.context import Context
from django_mcp.protocol.features.common import allowed, call, visible
from django_mcp.protocol.handlers import dump, paginate, validate_arguments
from django_mcp.protocol.jsonrpc import InternalError, InvalidParams, JSONRPCError
from django_mcp.security.errors import redact

if TYPE_CHECKING:
    from django_mcp.prompts import Prompt
    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession

logger = logging.getLogger("django_mcp")


class PromptMethods:
    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers

    async def list(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        items = await visible(session, self.handlers.registry.prompts())
        page, next_cursor = paginate(items, params.get("cursor"), mcp_settings.PAGE_SIZE)
        return dump(
            ListPromptsResult(prompts=[item.definition() for item in page], next_cursor=next_cursor)
        )

    async def find(self, session: ServerSession, name: Any) -> Prompt:
        if not isinstance(name, str):
            raise InvalidParams('Invalid params: "name" must be a string')
        prompt = self.handlers.registry.get_prompt(name)
        # A prompt the caller may not use answers like a missing one.
        if prompt is None or not await allowed(session, prompt.permission):
            raise InvalidParams(f"Unknown prompt: {name[:200]}")
        return prompt

    async def get(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        prompt = await self.find(session, params.get("name"))
        kwargs = validate_arguments(prompt.signature, params, f"prompt {prompt.name}")
        ctx = Context.for_request(session, params)
        if prompt.signature.context_parameter:
            kwargs[prompt.signature.context_parameter] = ctx
        try:
            with ctx.running():
                value = await call(prompt.func, prompt.is_async, kwargs)
            result = to_result(value, prompt.description)
        except JSONRPCError:
            raise
        except asyncio.CancelledError:
            raise
        except ToolError as exc:
            # An expected refusal ("no loans in that genre"): tell the user why.
            raise InvalidParams(
                redact(str(exc) or f"Prompt {prompt.name} refused the arguments")
            ) from None
        except Exception:
            logger.exception("MCP prompt %s raised", prompt.name)
            raise InternalError(f"Internal error in prompt {prompt.name}") from None
        return dump(result)
