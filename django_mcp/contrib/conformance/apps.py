from __future__ import annotations

from django.apps import AppConfig


class ConformanceConfig(AppConfig):
    name = "django_mcp.contrib.conformance"
    label = "django_mcp_conformance"
    verbose_name = "MCP conformance fixtures"
