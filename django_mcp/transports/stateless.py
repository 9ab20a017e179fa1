"""The stateless revision (MCP 2026-07-28) on the Streamable HTTP endpoint.

There are no sessions: each POST is one request that names its protocol version,
the client's capabilities and identity in ``params._meta``, and mirrors the
version, the method and (for ``tools/call``, ``prompts/get`` and
``resources/read``) the name in HTTP headers (``MCP-Protocol-Version``,
``Mcp-Method``, ``Mcp-Name``, and ``Mcp-Param-*`` for tool arguments whose
schema asks for it). Whichever worker receives the request answers it, with a
fresh :class:`~django_mcp.transports.exchange.RoutedSession` that lives for
that request only, the same registry and the same permissions.

- Errors of the request itself are ``400`` with the JSON-RPC error (``-32020``
  header mismatch, ``-32022`` unsupported version, ``-32602`` a missing
  envelope field or bad params, ``-32021`` a missing client capability), and
  an unknown method is ``404`` with ``-32601``.
- Progress and log messages (only when ``io.modelcontextprotocol/logLevel`` asks
  for them) go on the request's response, which then is an event stream.
- Closing that stream cancels the request.
- A notification is acknowledged with ``202`` and dropped: this revision defines
  none for a client to send over HTTP.

Authentication is the DRF classes', as everywhere; a credential DRF accepted is
trusted again for ``AUTH_RECHECK_INTERVAL`` seconds without a query (and
forgotten at once when its token is revoked or its user deactivated).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mcp_types import jsonrpc as codes
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from django_mcp import auth
from django_mcp.models import McpSession
from django_mcp.protocol import calls, envelope, jsonrpc
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import (
    HeaderMismatch,
    InvalidParams,
    InvalidRequest,
    JSONRPCError,
    Request,
    UnsupportedProtocolVersion,
)
from django_mcp.security import limits
from django_mcp.security.principals import principals
from django_mcp.security.scopes import scopes_for
from django_mcp.transports.exchange import Answer, RoutedSession
from django_mcp.transports.http import HttpRequest, write_stream

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

#: The HTTP status of a JSON answer by JSON-RPC error code; anything else is 200.
ERROR_STATUS = {
    codes.PARSE_ERROR: 400,
    codes.INVALID_REQUEST: 400,
    codes.INVALID_PARAMS: 400,
    codes.HEADER_MISMATCH: 400,
    codes.MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    codes.UNSUPPORTED_PROTOCOL_VERSION: 400,
    codes.METHOD_NOT_FOUND: 404,
}

#: Where the ``Mcp-Name`` header's value is in the body, by method.
NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
ROUTING_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name")
PARAM_HEADER_PREFIX = "mcp-param-"
_BASE64_VALUE = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")


def status_of(message: Any) -> int:
    error = message.get("error") if isinstance(message, dict) else None
    if isinstance(error, dict):
        return ERROR_STATUS.get(error.get("code"), 200)  # type: ignore[arg-type]
    return 200


async def authenticate(request: HttpRequest) -> auth.AuthResult | None:
    credentials = request.credentials
    if credentials is not None:
        known = principals.get(credentials)
        if known is not None:
            return known
    result = await request.authenticate()
    if result is not None and credentials is not None and result.credentials:
        principals.remember(credentials, result)
    return result


# Header validation ----------------------------------------------------------------


def decode_header_value(value: str | None) -> str | None:
    """A header value, with the ``=?base64?...?=`` form decoded; None when malformed."""
    if value is None:
        return None
    match = _BASE64_VALUE.fullmatch(value)
    if match is None:
        return value
    payload = match["payload"]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def check_headers(
    request: HttpRequest, message: Request, version: Any, handlers: Handlers
) -> HeaderMismatch | None:
    """The first way the routing headers disagree with the body, if any."""
    seen: set[str] = set()
    for name, _value in request.header_list:
        if name in ROUTING_HEADERS:
            if name in seen:
                return HeaderMismatch(f"Header mismatch: {name} appears more than once")
            seen.add(name)
    headers = request.headers
    if headers.get("mcp-protocol-version") != version:
        return HeaderMismatch(
            "Header mismatch: MCP-Protocol-Version does not match "
            "io.modelcontextprotocol/protocolVersion in _meta"
        )
    if headers.get("mcp-method") != message.method:
        return HeaderMismatch("Header mismatch: Mcp-Method does not match the request's method")
    key = NAME_PARAMS.get(message.method)
    if key is not None:
        value = message.params.get(key)
        if value is not None and decode_header_value(headers.get("mcp-name")) != value:
            return HeaderMismatch(f"Header mismatch: Mcp-Name does not match params.{key}")
    if message.method == "tools/call":
        return _check_param_headers(request, message.params, handlers)
    return None


def _check_param_headers(
    request: HttpRequest, params: dict[str, Any], handlers: Handlers
) -> HeaderMismatch | None:
    """``Mcp-Param-*`` headers against the arguments their tool's schema mirrors."""
    name = params.get("name")
    arguments = params.get("arguments")
    tool = handlers.registry.get(name) if isinstance(name, str) else None
    if tool is None or not isinstance(arguments, dict | None):
        return None
    sent = {
        header[len(PARAM_HEADER_PREFIX) :]: value
        for header, value in request.header_list
        if header.startswith(PARAM_HEADER_PREFIX)
    }
    for path, token in _annotated(tool.signature.input_schema):
        value: Any = arguments or {}
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        header = sent.get(token.lower())
        if value is None:
            if header is not None:
                return HeaderMismatch(f"Header mismatch: Mcp-Param-{token} has no argument")
            continue
        expected = "true" if value is True else "false" if value is False else str(value)
        decoded = decode_header_value(header)
        if decoded is None or not _same(decoded, expected, value):
            return HeaderMismatch(
                f"Header mismatch: Mcp-Param-{token} is missing or does not match its argument"
            )
    return None


def _annotated(schema: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """``(property path, header token)`` of every ``x-mcp-header`` reachable by ``properties``."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return
    for key, sub in properties.items():
        if isinstance(sub, dict):
            token = sub.get("x-mcp-header")
            if isinstance(token, str) and token:
                yield (*path, key), token
            yield from _annotated(sub, (*path, key))


def _same(header: str, expected: str, value: Any) -> bool:
    if header == expected:
        return True
    # Integers compare numerically: "42.0" and 42 agree.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(header) == float(value)
        except ValueError:
            return False
    return False


# Serving one request ----------------------------------------------------------------


class SessionlessRecorder:
    """The tool-call recorder of stateless requests: rows belong to no session."""

    def __init__(self, inner: calls.CallRecorder | None) -> None:
        self.inner = inner

    def record(self, session: ServerSession, call: calls.CallRecord) -> None:
        inner = self.inner or calls.default_recorder()
        if inner is not None:
            inner.record(session, replace(call, session_id=None))


_stateless_handlers: dict[int, Handlers] = {}


def stateless_handlers(base: Handlers) -> Handlers:
    """``base``'s registry, with a recorder that ties no call to a session."""
    handlers = _stateless_handlers.get(id(base))
    if handlers is None or handlers.registry is not base.registry:
        handlers = Handlers(registry=base.registry, recorder=SessionlessRecorder(base.recorder))
        _stateless_handlers[id(base)] = handlers
    return handlers


async def serve(request: HttpRequest, payload: Any, base: Handlers) -> None:
    """Answer one stateless POST (its Accept, Content-Type and JSON already checked)."""
    version = request.headers.get("mcp-protocol-version")
    if version is not None and version not in MODERN_PROTOCOL_VERSIONS:
        # A version nobody here speaks (any known one goes to a session): say
        # which ones are, whatever the body.
        await request.error(
            400,
            UnsupportedProtocolVersion(version, envelope.SUPPORTED_VERSIONS),
            request_id=jsonrpc.recover_id(payload),
        )
        return
    if isinstance(payload, dict) and "id" not in payload:
        await _notification(request, payload, version)
        return
    try:
        message = jsonrpc.parse_message(payload)
    except JSONRPCError as error:
        await request.error(400, error, request_id=jsonrpc.recover_id(payload))
        return
    if not isinstance(message, Request):
        await request.error(
            400,
            InvalidRequest(
                "Invalid request: a POST carries one JSON-RPC request or notification; "
                "clients send no responses in protocol version 2026-07-28"
            ),
            request_id=getattr(message, "id", None),
        )
        return
    handlers = stateless_handlers(base)
    try:
        envelope_of = envelope.read_envelope(message.params)
        unsupported = None
    except UnsupportedProtocolVersion as error:
        envelope_of, unsupported = None, error
    except InvalidParams as error:
        await request.error(400, error, request_id=message.id)
        return
    meta = envelope.meta_of(message.params) or {}
    mismatch = check_headers(
        request, message, meta.get("io.modelcontextprotocol/protocolVersion"), handlers
    )
    refusal = mismatch or unsupported
    if refusal is not None or envelope_of is None:
        await request.error(400, refusal or InvalidRequest(), request_id=message.id)
        return
    result = await authenticate(request)
    if result is None:
        return
    credentials = request.credentials
    rejection = limits.throttle(
        limits.credential_key(credentials) if credentials else limits.user_key(result.user.pk)
    )
    if rejection is not None:
        await rejection.send(request.send)
        return
    session = RoutedSession(
        session_id=f"stateless-{secrets.token_urlsafe(12)}",
        user=result.user,
        handlers=handlers,
        transport=McpSession.Transport.STREAMABLE_HTTP,
        token_id=getattr(result.token, "pk", None),
        scopes=scopes_for(result.token),
    )
    envelope.apply(session, envelope_of)
    exchange = session.router.open([message.id])
    session.receive(payload)
    try:
        # Closing the response cancels the request (2026-07-28): the session
        # closes with it, which cancels its task.
        await write_stream(request, Answer(outbox=exchange), exchange.queue, status_of=status_of)
    finally:
        session.close()


async def _notification(request: HttpRequest, payload: dict[str, Any], version: Any) -> None:
    try:
        jsonrpc.parse_message(payload)
    except JSONRPCError as error:
        await request.error(400, error)
        return
    if version is None:
        await request.error(400, HeaderMismatch("Header mismatch: MCP-Protocol-Version is missing"))
        return
    await request.send(
        {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}
    )
    await request.send({"type": "http.response.body", "body": b""})
