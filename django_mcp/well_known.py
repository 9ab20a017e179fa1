"""The ``/.well-known/`` URLs of an MCP resource server; include them at the root::

    urlpatterns = [
        path(".well-known/", include("django_mcp.well_known")),
        path("mcp/", include("django_mcp.urls")),
        ...
    ]

``oauth-protected-resource`` is the RFC 9728 metadata document, also answered
with a path suffix (``/.well-known/oauth-protected-resource/mcp``) as MCP clients
try that form first.
"""

from __future__ import annotations

from django.urls import path

from django_mcp.security.oauth import protected_resource_metadata

app_name = "django_mcp_well_known"

urlpatterns = [
    path(
        "oauth-protected-resource",
        protected_resource_metadata,
        name="oauth-protected-resource",
    ),
    path(
        "oauth-protected-resource/<path:resource_path>",
        protected_resource_metadata,
        name="oauth-protected-resource-path",
    ),
]
