"""Channels routes of the MCP streams.

Put them ahead of Django in the ASGI application::

    application = ProtocolTypeRouter({
        "http": URLRouter([*django_mcp.routing.urlpatterns, re_path(r"", django_asgi_app)]),
    })
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from django_mcp.conf import mcp_settings
from django_mcp.security.cors import CorsMiddleware
from django_mcp.transports.fastpath import MessagesEndpoint
from django_mcp.transports.sse import SseConsumer
from django_mcp.transports.streamable import StreamableEndpoint


def get_urlpatterns(django_asgi_app: Any = None) -> list[Any]:
    """The MCP ASGI routes under ``DJANGO_MCP["URL_PREFIX"]``, read now.

    ``<prefix>/sse`` is the stream consumer. ``<prefix>/messages/`` is the POST
    fast path, which hands anything it does not accept to ``django_asgi_app``
    (a new Django ASGI handler when omitted), where the DRF view answers.
    ``<prefix>`` (with or without the trailing slash) is the Streamable HTTP
    endpoint. All answer CORS for the origins of ``DJANGO_MCP["ALLOWED_ORIGINS"]``.
    """
    prefix = mcp_settings.URL_PREFIX
    streamable = CorsMiddleware(StreamableEndpoint())
    return [
        path(prefix, streamable, name="mcp-streamable"),  # type: ignore[arg-type]  # an ASGI app
        path(f"{prefix}/", streamable),  # type: ignore[arg-type]
        path(
            f"{prefix}/sse",
            CorsMiddleware(SseConsumer.as_asgi()),  # type: ignore[arg-type]  # an ASGI app
            name="mcp-sse",
        ),
        path(
            f"{prefix}/messages/",
            CorsMiddleware(MessagesEndpoint(django_asgi_app)),  # type: ignore[arg-type]
            name="mcp-messages",
        ),
    ]


urlpatterns = get_urlpatterns()
