"""``resources/*``: list, templates, read, subscribe and unsubscribe."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist
from mcp_types import ListResourcesResult, ListResourceTemplatesResult, ReadResourceResult
from pydantic import ValidationError

from django_mcp.conf import mcp_settings
from django_mcp.exceptions import ToolError
from django_mcp.protocol.context import Context
from django_mcp.protocol.features.common import allowed, call, visible
from django_mcp.protocol.handlers import dump, paginate
from django_mcp.protocol.jsonrpc import InternalError, InvalidParams, JSONRPCError, ResourceNotFound
from django_mcp.protocol.live import live_sessions
from django_mcp.resources import to_contents
from django_mcp.security.errors import redact

if TYPE_CHECKING:
    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession
    from django_mcp.resources import Resource

logger = logging.getLogger("django_mcp")


def _uri(params: dict[str, Any]) -> str:
    uri = params.get("uri")
    if not isinstance(uri, str) or not uri:
        raise InvalidParams('Invalid params: "uri" must be a non-empty string')
    return uri


def _not_found(uri: str, detail: str = "") -> ResourceNotFound:
    return ResourceNotFound(f"Resource not found: {uri[:500]}{detail}", data={"uri": uri[:2000]})


class ResourceMethods:
    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers

    async def list(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        items = await visible(session, self.handlers.registry.resources())
        page, next_cursor = paginate(items, params.get("cursor"), mcp_settings.PAGE_SIZE)
        return dump(
            ListResourcesResult(
                resources=[item.definition() for item in page], next_cursor=next_cursor
            )
        )

    async def templates_list(
        self, session: ServerSession, params: dict[str, Any]
    ) -> dict[str, Any]:
        items = await visible(session, self.handlers.registry.resource_templates())
        page, next_cursor = paginate(items, params.get("cursor"), mcp_settings.PAGE_SIZE)
        return dump(
            ListResourceTemplatesResult(
                resource_templates=[item.template_definition() for item in page],
                next_cursor=next_cursor,
            )
        )

    async def find(self, session: ServerSession, uri: str) -> tuple[Resource, dict[str, str]]:
        """The resource serving ``uri`` for this user; hidden ones are not found."""
        found = self.handlers.registry.find_resource(uri)
        if found is None or not await allowed(session, found[0].permission):
            raise _not_found(uri)
        return found

    async def read(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        uri = _uri(params)
        resource, variables = await self.find(session, uri)
        try:
            validated = resource.signature.arguments_model.model_validate(variables)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)[:5]
            )
            raise _not_found(uri, f" ({problems})") from None
        kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        ctx = Context.for_request(session, params)
        if resource.signature.context_parameter:
            kwargs[resource.signature.context_parameter] = ctx
        try:
            with ctx.running():
                value = await call(resource.func, resource.is_async, kwargs)
            contents = to_contents(value, uri, resource.mime_type)
        except (ObjectDoesNotExist, ResourceNotFound):
            raise _not_found(uri) from None
        except JSONRPCError:
            raise
        except asyncio.CancelledError:
            raise
        except ToolError as exc:
            raise InternalError(redact(str(exc) or "Internal error")) from None
        except Exception:
            logger.exception("MCP resource %s raised for %s", resource.uri, uri)
            raise InternalError(f"Internal error while reading {uri[:500]}") from None
        return dump(ReadResourceResult(contents=contents))

    async def subscribe(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        uri = _uri(params)
        await self.find(session, uri)
        live_sessions.subscribe(session, uri)
        # Answer only once updates from other workers can reach this one.
        await live_sessions.listen()
        return {}

    async def unsubscribe(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        live_sessions.unsubscribe(session, _uri(params))
        return {}
