"""JSON-RPC 2.0 envelopes and the error classes of the MCP core.

Every protocol error is an :class:`JSONRPCError` subclass that carries its code,
so handlers raise and the dispatcher turns the exception into a response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from mcp_types import jsonrpc as codes

JSONValue = Any
RequestId = int | str


class JSONRPCError(Exception):
    """Base class of errors answered with a JSON-RPC error object."""

    code: ClassVar[int] = codes.INTERNAL_ERROR
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParseError(JSONRPCError):
    code = codes.PARSE_ERROR
    default_message = "Parse error"


class InvalidRequest(JSONRPCError):
    code = codes.INVALID_REQUEST
    default_message = "Invalid request"


class MethodNotFound(JSONRPCError):
    code = codes.METHOD_NOT_FOUND
    default_message = "Method not found"


class InvalidParams(JSONRPCError):
    code = codes.INVALID_PARAMS
    default_message = "Invalid params"


class InternalError(JSONRPCError):
    code = codes.INTERNAL_ERROR
    default_message = "Internal error"


class ResourceNotFound(JSONRPCError):
    """The MCP-specific code for an unknown resource URI."""

    code = -32002
    default_message = "Resource not found"


class MissingClientCapability(JSONRPCError):
    """The server needs a capability the client did not declare in ``initialize``.

    The code and the ``requiredCapabilities`` data come from the 2026-07-28
    revision, the first to name this condition; earlier revisions leave the
    code to the implementation.
    """

    code = codes.MISSING_REQUIRED_CLIENT_CAPABILITY
    default_message = "Missing required client capability"

    def __init__(self, capabilities: dict[str, Any], message: str | None = None) -> None:
        names = ", ".join(sorted(capabilities))
        super().__init__(
            message or f"The client did not declare the {names!r} capability this request needs",
            data={"requiredCapabilities": capabilities},
        )


class HeaderMismatch(JSONRPCError):
    """Streamable HTTP (2026-07-28): a routing header is missing, malformed or
    disagrees with the request body (HTTP 400)."""

    code = codes.HEADER_MISMATCH
    default_message = "Header mismatch"


class UnsupportedProtocolVersion(JSONRPCError):
    """The request's protocol version is not one this server speaks (2026-07-28).

    ``data`` names the versions it does speak, so the client can retry with one.
    """

    code = codes.UNSUPPORTED_PROTOCOL_VERSION
    default_message = "Unsupported protocol version"

    def __init__(self, requested: Any, supported: list[str], message: str | None = None) -> None:
        super().__init__(message, data={"supported": supported, "requested": str(requested)[:100]})


class URLElicitationRequired(JSONRPCError):
    """The request can only go on after the user completes URL-mode elicitations."""

    code = codes.URL_ELICITATION_REQUIRED
    default_message = "This request requires more information."

    def __init__(self, elicitations: list[dict[str, Any]], message: str | None = None) -> None:
        super().__init__(message, data={"elicitations": elicitations})


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Response:
    """A client's answer to a request the server sent (result or error)."""

    id: RequestId
    result: dict[str, Any] | None
    error: dict[str, Any] | None


Message = Request | Notification | Response


def loads(body: bytes | str, max_depth: int) -> JSONValue:
    """Decode JSON, refusing invalid UTF-8 and nesting deeper than ``max_depth``."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise ParseError(f"Parse error: body is not valid UTF-8 ({exc.reason})") from None
    if _nesting_exceeds(text, max_depth):
        raise ParseError(f"Parse error: JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"Parse error: {exc}") from None


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have; refused
    # here, they cannot reach tools, logs or a JSON column.
    raise ValueError(f"{name} is not valid JSON")


def _nesting_exceeds(text: str, max_depth: int) -> bool:
    # A bracket count that ignores strings would refuse '"[[[["' as deep; this
    # scanner tracks strings and escapes. It only runs when brackets are numerous.
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def recover_id(payload: Any) -> RequestId | None:
    """The id of a malformed request, when one can be read, for its error response."""
    if isinstance(payload, dict) and _valid_id(payload.get("id")):
        value: RequestId = payload["id"]
        return value
    return None


def parse_message(payload: Any) -> Message:
    """Turn one decoded JSON value into a request, notification or response."""
    if not isinstance(payload, dict):
        raise InvalidRequest("Invalid request: a JSON-RPC message must be an object")
    if payload.get("jsonrpc") != "2.0":
        raise InvalidRequest('Invalid request: "jsonrpc" must be "2.0"')
    has_id = "id" in payload
    if has_id and not _valid_id(payload["id"]):
        raise InvalidRequest('Invalid request: "id" must be a string or an integer')
    if "method" in payload:
        method = payload["method"]
        if not isinstance(method, str) or not method:
            raise InvalidRequest('Invalid request: "method" must be a non-empty string')
        params = payload.get("params")
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise InvalidRequest('Invalid request: "params" must be an object')
        if has_id:
            return Request(id=payload["id"], method=method, params=params)
        return Notification(method=method, params=params)
    if has_id and ("result" in payload or "error" in payload):
        result, error = payload.get("result"), payload.get("error")
        if (result is not None and not isinstance(result, dict)) or (
            error is not None and not isinstance(error, dict)
        ):
            raise InvalidRequest("Invalid request: malformed response object")
        return Response(id=payload["id"], result=result, error=error)
    raise InvalidRequest('Invalid request: missing "method"')


def result_response(request_id: RequestId, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: RequestId | None, error: JSONRPCError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message
