"""The MCP URLs plus the OAuth well-known document, mounted as the docs say."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path(".well-known/", include("django_mcp.well_known")),
    path("mcp/", include("django_mcp.urls")),
]
