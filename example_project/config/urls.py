from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # OAuth 2.1 Protected Resource Metadata (RFC 9728), for MCP clients' discovery.
    path(".well-known/", include("django_mcp.well_known")),
    path("admin/", admin.site.urls),
    path("mcp/", include("django_mcp.urls")),
]
