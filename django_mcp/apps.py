"""App configs: the default autodiscovers ``mcp_tools`` modules, the simple one does not."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimpleMCPConfig(AppConfig):
    """``django_mcp`` without autodiscovery: register tools yourself."""

    name = "django_mcp"
    label = "django_mcp"
    verbose_name = _("MCP server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_mcp import (
            checks,  # noqa: F401  (registers the system checks)
            invalidation,
        )

        invalidation.connect()

        from django_mcp.conf import mcp_settings
        from django_mcp.transports import daphne

        if mcp_settings.DAPHNE_SKIP_FORM_PARSING:
            daphne.skip_twisted_form_parsing()
        daphne.skip_discarded_access_log()
        if mcp_settings.DAPHNE_FREEZE_GC:
            daphne.freeze_startup_objects()


class MCPConfig(SimpleMCPConfig):
    """The default: import ``mcp_tools`` of every installed app, as the admin does."""

    default = True

    def ready(self) -> None:
        super().ready()
        from django_mcp.registry import autodiscover

        autodiscover()
