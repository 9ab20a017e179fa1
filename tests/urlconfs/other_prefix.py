"""``django_mcp.urls`` mounted under ``api/mcp/`` instead of the configured prefix."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("api/mcp/", include("django_mcp.urls"))]
