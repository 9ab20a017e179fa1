"""Plain Django views of the MCP endpoints."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from django_mcp import __version__
from django_mcp.registry import registry
from django_mcp.transports.hub import hub


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness of this worker: no authentication, no database query."""
    return JsonResponse(
        {
            "status": "ok",
            "version": __version__,
            "tools": len(list(registry.tools())),
            "sessions": len(hub),
        }
    )
