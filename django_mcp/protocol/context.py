"""What a tool may use while it runs: the caller, the session and the request.

A tool (or a resource or prompt function) that declares a parameter annotated
with :class:`Context` receives one per call. Besides the user and the session
it gives the request-scoped features of MCP:

- ``await ctx.log(level, data)``: ``notifications/message``, sent only at or
  above the level the client chose with ``logging/setLevel``;
- ``await ctx.report_progress(progress, total, message)``:
  ``notifications/progress``, sent only when the request carried a
  ``progressToken``; a value that does not increase is dropped, because the
  specification requires each notification's progress to grow;
- ``ctx.cancelled`` / ``ctx.check_cancelled()``: whether the client sent
  ``notifications/cancelled`` (async tools are cancelled at their next
  ``await``; sync tools run in a thread and must look);
- ``await ctx.sample(...)``, ``await ctx.elicit(...)``,
  ``await ctx.elicit_url(...)``, ``await ctx.list_roots()``: requests to the
  client, answered by a POST; each first checks that the client declared the
  capability and raises :class:`MissingClientCapability` (-32021) if not.

Every coroutine works from the session's event loop or any other thread: sync
tools call them through ``asgiref.sync.async_to_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, get_args, overload

from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    ListRootsResult,
    LoggingLevel,
    LoggingMessageNotificationParams,
    ModelHint,
    ModelPreferences,
    ProgressNotificationParams,
    Root,
    SamplingMessage,
    TextContent,
    Tool,
    ToolChoice,
)
from pydantic import BaseModel, ValidationError

from django_mcp.conf import mcp_settings
from django_mcp.exceptions import ClientRequestError, RequestCancelled
from django_mcp.protocol import jsonrpc, mrtr
from django_mcp.protocol.jsonrpc import InvalidRequest, MissingClientCapability

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from django_mcp.protocol.session import ServerSession

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: The request being handled by the current task (set by the dispatcher).
current_request: ContextVar[jsonrpc.Request | None] = ContextVar(
    "django_mcp_current_request", default=None
)

#: Syslog severities of RFC 5424, lowest first, as MCP names them.
LOG_LEVELS: tuple[str, ...] = get_args(LoggingLevel)


def log_level_rank(level: str) -> int:
    """Position of ``level`` among :data:`LOG_LEVELS`; ``ValueError`` if unknown."""
    return LOG_LEVELS.index(level)


@dataclass
class ElicitationResult(Generic[T]):
    """The user's answer to ``ctx.elicit()``.

    ``action`` is ``"accept"``, ``"decline"`` or ``"cancel"``. On accept,
    ``content`` holds the submitted values and ``data`` the same values
    validated into the model given as schema (``None`` for a dict schema and in
    URL mode).
    """

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None
    data: T | None = None
    #: The id of a URL-mode elicitation, for ``complete_elicitation()``.
    elicitation_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.action == "accept"


@dataclass
class Context:
    """Passed to a function that declares a parameter annotated with ``Context``.

    ``user`` is the authenticated Django user, ``session`` the MCP session the
    call arrived on, ``request_id`` the JSON-RPC id of the request and ``meta``
    its ``params._meta``.
    """

    session: ServerSession
    request_id: int | str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _last_progress: float | None = field(default=None, repr=False)
    _finished: bool = field(default=False, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    #: On a stateless (2026-07-28) request: the client's answers (:mod:`.mrtr`).
    _inputs: mrtr.Inputs | None = field(default=None, repr=False)

    @classmethod
    def for_request(cls, session: ServerSession, params: dict[str, Any]) -> Context:
        """The context of the request the current task is handling."""
        meta = params.get("_meta")
        request = current_request.get()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        return cls(
            session=session,
            request_id=request.id if request is not None else None,
            meta=meta if isinstance(meta, dict) else {},
            _loop=loop,
            _inputs=(
                mrtr.Inputs.for_request(session.user, request.method, params)
                if session.modern and request is not None and request.method in mrtr.METHODS
                else None
            ),
        )

    @property
    def user(self) -> AbstractBaseUser | AnonymousUser:
        return self.session.user

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def transport(self) -> str:
        return self.session.transport

    # Lifetime -----------------------------------------------------------

    @contextlib.contextmanager
    def running(self) -> Iterator[Context]:
        """Wrap the call: marks the context cancelled or finished when it ends."""
        try:
            yield self
        except asyncio.CancelledError:
            self._cancelled.set()
            raise
        finally:
            self._finished = True

    @property
    def cancelled(self) -> bool:
        """Whether the client cancelled this request (or the session closed)."""
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`RequestCancelled` if the request was cancelled (for sync tools)."""
        if self._cancelled.is_set():
            raise RequestCancelled("The client cancelled this request.")

    async def _on_loop(self, coroutine: Awaitable[T]) -> T:
        # The session writes to its transport on its own loop; a coroutine
        # started from another loop (async_to_sync in a sync tool) hops there.
        loop = self._loop
        if loop is None or loop.is_closed():
            return await coroutine
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return await coroutine
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coroutine), loop)
        return await asyncio.wrap_future(future)

    # Logging ------------------------------------------------------------

    async def log(self, level: str, data: Any, logger: str | None = None) -> bool:
        """Send ``data`` to the client as a log message; True if it was sent.

        ``level`` is one of :data:`LOG_LEVELS`. Nothing is sent below the
        session's level (``logging/setLevel``, else ``DJANGO_MCP["LOG_LEVEL"]``).
        """
        rank = log_level_rank(level)
        threshold = self.session.log_level
        if threshold is None:
            # The stateless revision sends log messages only to requests that
            # ask for them (``io.modelcontextprotocol/logLevel`` in ``_meta``).
            if self.session.modern:
                return False
            threshold = mcp_settings.LOG_LEVEL
        if rank < log_level_rank(threshold):
            return False
        params = LoggingMessageNotificationParams(
            level=cast(LoggingLevel, level), logger=logger, data=data
        )
        await self._on_loop(self._notify("notifications/message", _dump(params)))
        return True

    async def debug(self, data: Any, logger: str | None = None) -> bool:
        return await self.log("debug", data, logger)

    async def info(self, data: Any, logger: str | None = None) -> bool:
        return await self.log("info", data, logger)

    async def warning(self, data: Any, logger: str | None = None) -> bool:
        return await self.log("warning", data, logger)

    async def error(self, data: Any, logger: str | None = None) -> bool:
        return await self.log("error", data, logger)

    # Progress -----------------------------------------------------------

    @property
    def progress_token(self) -> int | str | None:
        """The request's ``_meta.progressToken``, if the client sent one."""
        token = self.meta.get("progressToken")
        if isinstance(token, bool) or not isinstance(token, int | str):
            return None
        return token

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> bool:
        """Send ``notifications/progress``; True if it was sent.

        Nothing is sent when the client gave no progress token, after the call
        has finished, or when ``progress`` is not greater than the last value
        sent: the specification requires progress to increase with every
        notification, so a value that does not is dropped, not clamped.
        """
        token = self.progress_token
        if token is None or self._finished:
            return False
        if self._last_progress is not None and progress <= self._last_progress:
            return False
        self._last_progress = progress
        params = ProgressNotificationParams(
            progress_token=token, progress=progress, total=total, message=message
        )
        await self._on_loop(self._notify("notifications/progress", _dump(params)))
        return True

    async def _notify(self, method: str, params: dict[str, Any]) -> None:
        await self.session.send(jsonrpc.notification(method, params), related=self.request_id)

    # Client capabilities ------------------------------------------------

    def client_supports(self, capability: str, mode: str | None = None) -> bool:
        """Whether the client declared ``capability`` (and ``mode`` within it).

        ``client_supports("elicitation", "url")``; an empty ``elicitation``
        object means form mode only, as the specification says.
        """
        declared = self.session.client_capabilities.get(capability)
        if not isinstance(declared, dict):
            return False
        if mode is None:
            return True
        if capability == "elicitation" and mode == "form" and not declared:
            return True
        return isinstance(declared.get(mode), dict)

    def _require(self, capability: str, mode: str | None = None) -> None:
        if not self.client_supports(capability, mode):
            needed: dict[str, Any] = {capability: {mode: {}} if mode else {}}
            what = f"{capability}.{mode}" if mode else capability
            raise MissingClientCapability(
                needed, f"The client does not support {what}: it did not declare it."
            )

    async def _request(
        self,
        method: str,
        params: dict[str, Any],
        timeout: float | None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> dict[str, Any]:
        if self.session.modern:
            # No back channel: the request is answered with the question, and
            # the client asks again with the answer (multi round-trip requests).
            if self._inputs is None:
                raise InvalidRequest(f"Invalid request: {method} cannot be asked here")
            return self._inputs.answer(method, params)
        wait = mcp_settings.CLIENT_REQUEST_TIMEOUT if timeout is None else timeout
        return await self._on_loop(
            self.session.outgoing.request(method, params, timeout=wait, related=self.request_id)
        )

    # Sampling -----------------------------------------------------------

    async def sample(
        self,
        messages: str | Sequence[str | SamplingMessage],
        *,
        max_tokens: int = 1000,
        system_prompt: str | None = None,
        temperature: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        model_preferences: ModelPreferences | str | Sequence[str] | None = None,
        include_context: Literal["none", "thisServer", "allServers"] | None = None,
        metadata: dict[str, Any] | None = None,
        tools: Sequence[Tool] | None = None,
        tool_choice: ToolChoice | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> CreateMessageResult | CreateMessageResultWithTools:
        """Ask the client's language model for a message (``sampling/createMessage``).

        Strings become user messages. ``model_preferences`` may be model-name
        hints (``"claude-sonnet"``). Tool use needs the client's
        ``sampling.tools`` capability; ``include_context`` other than
        ``"none"`` needs ``sampling.context``.
        """
        self._require("sampling")
        if tools:
            self._require("sampling", "tools")
        if include_context not in (None, "none"):
            self._require("sampling", "context")
        if isinstance(messages, str):
            messages = [messages]
        if isinstance(model_preferences, str):
            model_preferences = [model_preferences]
        if model_preferences is not None and not isinstance(model_preferences, ModelPreferences):
            model_preferences = ModelPreferences(
                hints=[ModelHint(name=hint) for hint in model_preferences]
            )
        params = CreateMessageRequestParams(
            messages=[
                item
                if isinstance(item, SamplingMessage)
                else SamplingMessage(role="user", content=TextContent(type="text", text=item))
                for item in messages
            ],
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            temperature=temperature,
            stop_sequences=list(stop_sequences) if stop_sequences is not None else None,
            model_preferences=model_preferences,
            include_context=include_context,
            metadata=metadata,
            tools=list(tools) if tools else None,
            tool_choice=tool_choice,
        )
        raw = await self._request("sampling/createMessage", _dump(params), timeout)
        model: type[CreateMessageResult | CreateMessageResultWithTools] = (
            CreateMessageResultWithTools if tools else CreateMessageResult
        )
        return _validate(model, raw, "sampling/createMessage")

    # Elicitation --------------------------------------------------------

    @overload
    async def elicit(
        self,
        message: str,
        schema: type[M],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> ElicitationResult[M]: ...

    @overload
    async def elicit(
        self,
        message: str,
        schema: dict[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> ElicitationResult[Any]: ...

    async def elicit(
        self,
        message: str,
        schema: type[M] | dict[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> ElicitationResult[M] | ElicitationResult[Any]:
        """Ask the user to fill in a form (``elicitation/create``, form mode).

        ``schema`` is a pydantic model with flat fields of primitive types
        (str, int, float, bool, enums) or a JSON Schema dict of that shape. On
        accept, the answer is validated against the model into ``.data``; an
        answer that does not fit raises :class:`ClientRequestError`. Never ask
        for passwords or secrets this way: use :meth:`elicit_url`.
        """
        self._require("elicitation", "form")
        model = schema if isinstance(schema, type) else None
        requested = elicitation_schema(schema)
        params = ElicitRequestFormParams(mode="form", message=message, requested_schema=requested)
        raw = await self._request("elicitation/create", _dump(params), timeout)
        answer = _validate(ElicitResult, raw, "elicitation/create")
        result: ElicitationResult[M] = ElicitationResult(
            action=answer.action, content=answer.content
        )
        if answer.action == "accept" and model is not None:
            try:
                result.data = model.model_validate(answer.content or {})
            except ValidationError as exc:
                raise ClientRequestError(
                    f"The answer to the form does not match its schema: {exc.error_count()} "
                    "invalid field(s)."
                ) from None
        return result

    async def elicit_url(
        self,
        message: str,
        url: str,
        *,
        elicitation_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> ElicitationResult[None]:
        """Send the user to ``url`` for an interaction the client must not see.

        ``accept`` means the user agreed to open the page, not that they
        finished; call :meth:`complete_elicitation` with
        ``result.elicitation_id`` when they do (an id is made up when none is
        given).
        """
        self._require("elicitation", "url")
        elicitation_id = elicitation_id or str(uuid.uuid4())
        params = ElicitRequestURLParams(
            mode="url", message=message, url=url, elicitation_id=elicitation_id
        )
        raw = await self._request("elicitation/create", _dump(params), timeout)
        answer = _validate(ElicitResult, raw, "elicitation/create")
        return ElicitationResult(action=answer.action, elicitation_id=elicitation_id)

    async def complete_elicitation(self, elicitation_id: str) -> None:
        """Tell the client a URL-mode elicitation is done.

        Sends ``notifications/elicitation/complete`` with ``elicitation_id``.
        """
        await self._on_loop(
            self._notify("notifications/elicitation/complete", {"elicitationId": elicitation_id})
        )

    # Roots --------------------------------------------------------------

    async def list_roots(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (defaults to a setting)
    ) -> list[Root]:
        """The client's roots (``roots/list``): directories it lets the server see."""
        self._require("roots")
        raw = await self._request("roots/list", {}, timeout)
        return _validate(ListRootsResult, raw, "roots/list").roots


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _dump(model: BaseModel) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


def _validate(model: type[M], raw: dict[str, Any], method: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError:
        raise ClientRequestError(f"The client's answer to {method} is malformed.") from None


#: JSON Schema types an elicitation form may use.
_PRIMITIVE_TYPES = {"string", "number", "integer", "boolean", "array"}


def elicitation_schema(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """The ``requestedSchema`` for a model or a dict: a flat object of primitives.

    Enum fields, which pydantic puts under ``$defs``, are inlined; anything
    nested is refused with ``TypeError`` before the client is asked.
    """
    if isinstance(schema, dict):
        result = dict(schema)
    else:
        result = schema.model_json_schema()
        definitions = result.pop("$defs", {})
        properties = {}
        for name, spec in result.get("properties", {}).items():
            properties[name] = _inline(spec, definitions)
        result["properties"] = properties
        result.pop("title", None)
    if result.get("type") != "object":
        raise TypeError("An elicitation schema must be an object schema")
    for name, spec in result.get("properties", {}).items():
        kind = spec.get("type")
        if kind not in _PRIMITIVE_TYPES or (
            kind == "array" and not isinstance(spec.get("items"), dict)
        ):
            raise TypeError(
                f"Elicitation field {name!r} must be a string, number, integer, boolean or "
                "enum (a list of choices for multi-select); nested objects are not allowed"
            )
    return result


def _inline(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    reference = spec.pop("$ref", None)
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        target = dict(definitions.get(reference.removeprefix("#/$defs/"), {}))
        target.pop("title", None)
        spec = {**target, **spec}
    if "anyOf" in spec:
        # ``X | None`` with a default: the form field is simply optional.
        options = [option for option in spec["anyOf"] if option.get("type") != "null"]
        if len(options) == 1:
            spec.pop("anyOf")
            spec = {**_inline(options[0], definitions), **spec}
    if isinstance(spec.get("items"), dict):
        spec["items"] = _inline(spec["items"], definitions)
    return spec
