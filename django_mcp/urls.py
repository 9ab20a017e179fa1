"""Django URLs of the MCP endpoints; include them under the MCP prefix.

``path("mcp/", include("django_mcp.urls"))``. The stream itself is an ASGI
route: see :mod:`django_mcp.routing`.
"""

from __future__ import annotations

from django.urls import path

from django_mcp.transports.messages import MessagesView
from django_mcp.views import health

app_name = "django_mcp"

urlpatterns = [
    path("messages/", MessagesView.as_view(), name="messages"),
    path("health", health, name="health"),
]
