"""The MCP methods: what each JSON-RPC method does, independent of transport."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp_types import (
    SERVER_INFO_META_KEY,
    CallToolResult,
    DiscoverResult,
    Implementation,
    InitializeResult,
    ListToolsResult,
    ServerCapabilities,
    ToolsCapability,
)
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
)
from pydantic import ValidationError

from django_mcp.conf import mcp_settings
from django_mcp.exceptions import ToolError
from django_mcp.protocol import calls, content, envelope
from django_mcp.protocol.context import Context, current_request
from django_mcp.protocol.jsonrpc import (
    InvalidParams,
    InvalidRequest,
    JSONRPCError,
    MethodNotFound,
    Notification,
    Request,
    ResourceNotFound,
    Response,
)
from django_mcp.protocol.mrtr import InputRequired
from django_mcp.security.errors import tool_error_message

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession
    from django_mcp.registry import Registry, Tool
    from django_mcp.schema import Signature

logger = logging.getLogger("django_mcp")

Handler = Callable[["ServerSession", dict[str, Any]], Awaitable[dict[str, Any]]]

#: Methods a client may send before the initialize handshake completes.
BEFORE_INITIALIZE = frozenset({"initialize", "ping"})


#: Methods of the handshake revisions that the stateless revision (2026-07-28)
#: removed: there is no session to initialize, ping, set a log level on or
#: subscribe with.
HANDSHAKE_ONLY_METHODS = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)
#: Methods only the stateless revision has.
MODERN_ONLY_METHODS = frozenset({"server/discover"})

#: Result fields of the stateless 2026-07-28 revision; sessions negotiated
#: through ``initialize`` never see them (:func:`shape_result`).
MODERN_ONLY_RESULT_FIELDS = ("resultType", "ttlMs", "cacheScope")

#: Results a 2026-07-28 client may cache: they carry ``ttlMs`` and ``cacheScope``.
CACHEABLE_METHODS = frozenset(
    {
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    }
)


def dump(model: Any) -> dict[str, Any]:
    """Serialize an ``mcp-types`` model to its wire form (every field it has).

    Which of the 2026-07-28 fields reach the client depends on the version the
    request speaks: :func:`shape_result` decides, once per response.
    """
    data: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


def shape_result(version: str | None, method: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as the protocol ``version`` spells it.

    Handshake revisions never see the stateless revision's fields. A 2026-07-28
    result always has ``resultType``; cacheable ones have ``ttlMs`` and
    ``cacheScope`` (not cached, private to the caller: results depend on who
    asks); and every result names the server in ``_meta``.
    """
    if version not in MODERN_PROTOCOL_VERSIONS:
        for name in MODERN_ONLY_RESULT_FIELDS:
            result.pop(name, None)
        return result
    result.setdefault("resultType", "complete")
    if method in CACHEABLE_METHODS:
        result.setdefault("ttlMs", 0)
        result.setdefault("cacheScope", "private")
    meta = result.get("_meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta.setdefault(SERVER_INFO_META_KEY, server_info())
    result["_meta"] = meta
    return result


def server_info() -> dict[str, Any]:
    return {"name": mcp_settings.SERVER_NAME, "version": mcp_settings.SERVER_VERSION}


def negotiate(requested: Any) -> str:
    """The client's version when supported, else the latest this server speaks."""
    if isinstance(requested, str) and requested in HANDSHAKE_PROTOCOL_VERSIONS:
        return requested
    return LATEST_HANDSHAKE_VERSION


def _run_sync(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    # Each sync tool runs in a pool thread of its own, so concurrent calls of
    # one session overlap; stale database connections are closed around it.
    close_old_connections()
    try:
        return func(**kwargs)
    finally:
        close_old_connections()


#: :func:`_run_sync` in a pool thread; one wrapper for every call (building an
#: asgiref ``SyncToAsync`` per call showed in profiles of the POST path).
_run_in_thread = sync_to_async(_run_sync, thread_sensitive=False)


class Handlers:
    """Dispatch table from method names to coroutines."""

    def __init__(
        self, registry: Registry | None = None, recorder: calls.CallRecorder | None = None
    ) -> None:
        if registry is None:
            from django_mcp.registry import registry as default_registry

            registry = default_registry
        self.registry = registry
        #: Told about every tools/call; ``None`` means DJANGO_MCP["CALL_RECORDER"].
        self.recorder = recorder
        self.methods: dict[str, Handler] = {
            "initialize": self.initialize,
            "ping": self.ping,
            "tools/list": self.tools_list,
            "tools/call": self.tools_call,
            "server/discover": self.discover,
        }
        # Resources, prompts, completion and logging live in protocol.features,
        # which builds on this module's helpers (hence the late import).
        from django_mcp.protocol import features

        self.features = features.install(self)

    # Dispatch -------------------------------------------------------------

    async def request(self, session: ServerSession, request: Request) -> dict[str, Any]:
        handler = self.methods.get(request.method)
        modern = session.modern
        if handler is None or request.method in (
            HANDSHAKE_ONLY_METHODS if modern else MODERN_ONLY_METHODS
        ):
            raise MethodNotFound(f"Method not found: {request.method[:200]}")
        if session.protocol_version is None and request.method not in BEFORE_INITIALIZE:
            raise InvalidRequest(
                "Invalid request: the session is not initialized; send 'initialize' first"
            )
        current_request.set(request)
        try:
            result = await handler(session, request.params)
        except ResourceNotFound as error:
            if not modern:
                raise
            # 2026-07-28 retired -32002: an unknown resource is invalid params.
            raise InvalidParams(error.message, error.data) from None
        except InputRequired as needed:
            result = needed.result()
        return shape_result(session.protocol_version, request.method, result)

    def notify(self, session: ServerSession, notification: Notification) -> None:
        if notification.method == "notifications/initialized":
            if session.protocol_version is not None:
                session.initialized = True
        elif notification.method == "notifications/cancelled":
            request_id = notification.params.get("requestId")
            if isinstance(request_id, int | str) and not isinstance(request_id, bool):
                session.cancel_request(request_id)
        # Other notifications carry nothing this server acts on; JSON-RPC
        # forbids answering a notification, so they are dropped quietly.

    def response(self, session: ServerSession, response: Response) -> None:
        """A client's answer to a request the server sent (sampling, elicitation, roots)."""
        if not session.outgoing.resolve(response):
            logger.debug("Ignoring response %r on session %s", response.id, session.id)

    # Lifecycle ----------------------------------------------------------

    async def initialize(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        if session.protocol_version is not None:
            raise InvalidRequest("Invalid request: the session is already initialized")
        client_info = params.get("clientInfo")
        capabilities = params.get("capabilities")
        if not isinstance(params.get("protocolVersion"), str):
            raise InvalidParams('Invalid params: "protocolVersion" must be a string')
        session.protocol_version = negotiate(params["protocolVersion"])
        session.client_info = client_info if isinstance(client_info, dict) else {}
        session.client_capabilities = capabilities if isinstance(capabilities, dict) else {}
        session.initialized_by_client()
        self.features.on_initialize(session)
        return dump(
            InitializeResult(
                protocol_version=session.protocol_version,
                capabilities=self.capabilities(),
                server_info=Implementation(
                    name=mcp_settings.SERVER_NAME, version=mcp_settings.SERVER_VERSION
                ),
                instructions=mcp_settings.INSTRUCTIONS,
            )
        )

    def capabilities(self, *, modern: bool = False) -> ServerCapabilities:
        # list_changed: registry.notify_list_changed() sends the notification.
        # A 2026-07-28 client would need subscriptions/listen for list changes
        # and resource updates, which this server does not serve.
        capabilities = ServerCapabilities(
            tools=ToolsCapability(list_changed=None if modern else True),
            **self.features.capabilities(),
        )
        if modern:
            for name in ("resources", "prompts"):
                capability = getattr(capabilities, name)
                if capability is not None:
                    capability.list_changed = None
            if capabilities.resources is not None:
                capabilities.resources.subscribe = None
        return capabilities

    async def discover(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        """``server/discover`` (2026-07-28): versions, capabilities and identity."""
        result = dump(
            DiscoverResult(
                supported_versions=envelope.SUPPORTED_VERSIONS,
                capabilities=self.capabilities(modern=True),
                instructions=mcp_settings.INSTRUCTIONS,
            )
        )
        result["_meta"] = {SERVER_INFO_META_KEY: server_info()}
        return result

    async def ping(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    # Tools ----------------------------------------------------------------

    async def visible_tools(self, session: ServerSession) -> list[Tool]:
        # Django permissions were loaded into the user's cache when the session
        # was authenticated; only a callable check may still reach the database.
        if self.registry.has_callable_checks:
            return await sync_to_async(self.registry.tools_for, thread_sensitive=False)(
                session.user, session.scopes
            )
        return self.registry.tools_for(session.user, session.scopes)

    async def allows(self, session: ServerSession, tool: Tool) -> bool:
        if callable(tool.permission):
            return await sync_to_async(tool.allows, thread_sensitive=False)(
                session.user, session.scopes
            )
        return tool.allows(session.user, session.scopes)

    async def tools_list(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        tools = await self.visible_tools(session)
        page, next_cursor = paginate(tools, params.get("cursor"), mcp_settings.PAGE_SIZE)
        return dump(
            ListToolsResult(tools=[tool.definition() for tool in page], next_cursor=next_cursor)
        )

    async def find_tool(self, session: ServerSession, name: Any) -> Tool:
        if not isinstance(name, str):
            raise InvalidParams('Invalid params: "name" must be a string')
        tool = self.registry.get(name)
        # A tool the caller may not use answers exactly like a missing one, so
        # tool names do not leak to users who cannot see them.
        if tool is None or not await self.allows(session, tool):
            raise InvalidParams(f"Unknown tool: {name[:200]}")
        return tool

    async def tools_call(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        recorder = self.recorder or calls.default_recorder()
        if recorder is None:
            return await self.call_tool(session, params)
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        outcome: calls.Outcome = "ok"
        error = ""
        try:
            result = await self.call_tool(session, params)
        except InputRequired:
            # Not finished: the client answers, then calls again, and that is recorded.
            recorder = None
            raise
        except JSONRPCError as exc:
            outcome, error = "protocol-error", exc.message
            raise
        except asyncio.CancelledError:
            outcome, error = "cancelled", "Cancelled before it finished."
            raise
        except Exception:
            outcome, error = "protocol-error", "Internal error"
            raise
        else:
            if result.get("isError"):
                outcome, error = "tool-error", _first_text(result)
            return result
        finally:
            duration_ms = (time.perf_counter() - start) * 1000
            if recorder is not None:
                self.record_call(recorder, session, params, started_at, duration_ms, outcome, error)

    def record_call(
        self,
        recorder: calls.CallRecorder,
        session: ServerSession,
        params: dict[str, Any],
        started_at: datetime,
        duration_ms: float,
        outcome: calls.Outcome,
        error: str,
    ) -> None:
        name = params.get("name")
        tool = self.registry.get(name) if isinstance(name, str) else None
        record = calls.CallRecord(
            session_id=session.id,
            user=session.user,
            tool=str(name)[:128] if name is not None else "",
            arguments=calls.redact(
                params.get("arguments"),
                tool.log_arguments if tool else True,
                tool.redact if tool else (),
            ),
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=outcome,
            error=error,
        )
        try:
            recorder.record(session, record)
        except Exception:
            logger.exception("The tool-call recorder failed")

    async def call_tool(self, session: ServerSession, params: dict[str, Any]) -> dict[str, Any]:
        tool = await self.find_tool(session, params.get("name"))
        kwargs = validate_arguments(tool.signature, params, f"tool {tool.name}")
        ctx = Context.for_request(session, params)
        if tool.signature.context_parameter:
            kwargs[tool.signature.context_parameter] = ctx
        with ctx.running():
            return dump(await self.run_tool(tool, kwargs))

    async def run_tool(self, tool: Tool, kwargs: dict[str, Any]) -> CallToolResult:
        try:
            if tool.is_async:
                value = await tool.func(**kwargs)
            else:
                value = await _run_in_thread(tool.func, kwargs)
            return self.tool_result(tool, value)
        except JSONRPCError:
            # Protocol errors a tool raises on purpose (a missing client
            # capability, URL elicitation required) are answered as such.
            raise
        # The client gets the message, never the traceback, and never the value of
        # a sensitive setting (django_mcp.security.errors).
        except ToolError as exc:
            return _error_result(tool_error_message(exc))
        except Exception as exc:
            logger.exception("MCP tool %s raised", tool.name)
            return _error_result(tool_error_message(exc))

    def tool_result(self, tool: Tool, value: Any) -> CallToolResult:
        if isinstance(value, CallToolResult):
            return value
        adapter = tool.signature.output_adapter
        if adapter is None:
            return CallToolResult(content=content.to_content(value))
        structured = adapter.dump_python(adapter.validate_python(value), mode="json")
        if tool.signature.wrap_output:
            structured = {"result": structured}
        text = json.dumps(structured, ensure_ascii=False)
        return CallToolResult(content=[content.text(text)], structured_content=structured)


def _first_text(result: dict[str, Any]) -> str:
    for block in result.get("content") or ():
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    return ""


def _error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[content.text(message)], is_error=True)


def validate_arguments(signature: Signature, params: dict[str, Any], what: str) -> dict[str, Any]:
    """The keyword arguments of a tool or prompt call, validated; -32602 otherwise."""
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidParams('Invalid params: "arguments" must be an object')
    try:
        validated = signature.arguments_model.model_validate(arguments)
    except ValidationError as exc:
        raise InvalidParams(
            f"Invalid arguments for {what}: {_summary(exc)}",
            data=exc.errors(include_url=False, include_input=False, include_context=False),
        ) from None
    return {name: getattr(validated, name) for name in type(validated).model_fields}


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(item) for item in error["loc"]) or "arguments"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def paginate(items: list[Any], cursor: Any, size: int) -> tuple[list[Any], str | None]:
    """Slice ``items`` at an opaque cursor; return the page and the next cursor."""
    start = 0
    if cursor is not None:
        if not isinstance(cursor, str):
            raise InvalidParams('Invalid params: "cursor" must be a string')
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii"))
        except (ValueError, UnicodeError, binascii.Error):
            raise InvalidParams("Invalid params: unknown cursor") from None
        if start < 0 or start > len(items):
            raise InvalidParams("Invalid params: unknown cursor")
    end = start + size
    next_cursor = (
        base64.urlsafe_b64encode(str(end).encode("ascii")).decode("ascii")
        if end < len(items)
        else None
    )
    return items[start:end], next_cursor
