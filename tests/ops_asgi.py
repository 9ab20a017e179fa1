"""ASGI applications for the routing check tests (django_mcp.E003 / W003)."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path, re_path

from django_mcp.routing import get_urlpatterns


async def django_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for Django's ASGI handler."""


#: As documented: the MCP routes ahead of Django, under a middleware stack.
routed = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(
            URLRouter([*get_urlpatterns(django_app), re_path(r"", django_app)])
        )
    }
)

#: Nested routers: the MCP routes included under a sub-router.
nested = ProtocolTypeRouter(
    {"http": URLRouter([path("api/", URLRouter(get_urlpatterns(django_app)))])}
)

#: The mistake: only Django, the stream route forgotten.
django_only = ProtocolTypeRouter({"http": URLRouter([re_path(r"", django_app)])})

broken = "this module attribute is not an ASGI application"
