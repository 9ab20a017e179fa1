"""CORS for browser-based MCP clients, opt-in through ``DJANGO_MCP["ALLOWED_ORIGINS"]``.

The stream and the POST fast path are ASGI routes served ahead of Django, so
Django middleware such as django-cors-headers never sees them. This wrapper
gives them (and the DRF view behind the fast path) CORS for exactly the origins
listed in ``ALLOWED_ORIGINS``: it answers preflight ``OPTIONS`` requests and
adds ``Access-Control-Allow-Origin`` to the responses. An empty list, the
default, means no CORS at all; same-origin pages need none.

Credentials travel in the ``Authorization`` header, so no
``Access-Control-Allow-Credentials`` is sent: a cross-origin page can use the
endpoints only with a token it was given, never with the visitor's cookies.
"""

from __future__ import annotations

from typing import Any

from django_mcp.conf import mcp_settings
from django_mcp.security import screening
from django_mcp.security.rejection import Rejection

# DELETE and the Mcp-* headers are Streamable HTTP's (its session id must be readable).
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "authorization, content-type, mcp-protocol-version, last-event-id, mcp-session-id, "
    "mcp-method, mcp-name"
)
EXPOSE_HEADERS = "www-authenticate, retry-after, mcp-session-id"
MAX_AGE = "600"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def allowed_origin(scope: dict[str, Any]) -> str | None:
    """The request's ``Origin`` when CORS answers it: listed in ``ALLOWED_ORIGINS``."""
    if not mcp_settings.ALLOWED_ORIGINS:
        return None
    origin = _header(scope, b"origin")
    if origin is None or screening.screen_scope(scope) is not None:
        return None
    return origin


class CorsMiddleware:
    """Wraps an ASGI app of the MCP routes with CORS for the allowed origins."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = allowed_origin(scope) if scope.get("type") == "http" else None
        if origin is None:
            if scope.get("method") == "OPTIONS" and _header(scope, b"origin") is not None:
                await self.refuse_preflight(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self.preflight(scope, origin, send)
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"access-control-allow-origin" for name, _ in headers):
                    headers += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
                        (b"vary", b"Origin"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def preflight(scope: dict[str, Any], origin: str, send: Any) -> None:
        requested = _header(scope, b"access-control-request-headers")
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                    (
                        b"access-control-allow-headers",
                        (requested or ALLOW_HEADERS).encode("latin-1"),
                    ),
                    (b"access-control-max-age", MAX_AGE.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def refuse_preflight(scope: dict[str, Any], send: Any) -> None:
        rejection = screening.screen_scope(scope) or Rejection(
            403,
            'Forbidden: cross-origin requests need the origin in DJANGO_MCP["ALLOWED_ORIGINS"].',
        )
        await rejection.send(send)
