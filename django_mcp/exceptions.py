"""Exceptions that user code raises."""

from __future__ import annotations

# Protocol errors a tool may raise on purpose, answered as JSON-RPC errors.
from django_mcp.protocol.jsonrpc import (
    MissingClientCapability,
    ResourceNotFound,
    URLElicitationRequired,
)

__all__ = [
    "ClientDisconnected",
    "ClientRequestError",
    "ClientRequestTimeout",
    "MissingClientCapability",
    "RequestCancelled",
    "ResourceNotFound",
    "ToolError",
    "URLElicitationRequired",
]


class ToolError(Exception):
    """Raise inside a tool to return ``isError: true`` with this message.

    Any other exception does the same, but is also logged with its traceback
    as an unexpected failure.
    """


class ClientRequestError(ToolError):
    """A request the server sent to the client (sampling, elicitation, roots) failed.

    ``code`` and ``data`` are those of the client's JSON-RPC error, when it
    answered with one. Uncaught in a tool, it becomes ``isError: true``.
    """

    def __init__(self, message: str, *, code: int | None = None, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class ClientRequestTimeout(ClientRequestError):
    """The client did not answer in time (``DJANGO_MCP["CLIENT_REQUEST_TIMEOUT"]``)."""


class ClientDisconnected(ClientRequestError):
    """The session closed while the server waited for the client's answer."""


class RequestCancelled(Exception):
    """The client cancelled the request; raised by ``Context.check_cancelled()``."""
