"""Django models as MCP tools: declare a :class:`ModelToolset`, register it.

See ``docs/orm-tools.md``.
"""

from __future__ import annotations

from django_mcp.orm.adapters import InvalidData
from django_mcp.orm.schema import UNSET
from django_mcp.orm.toolsets import ModelToolset, register_toolset

__all__ = ["UNSET", "InvalidData", "ModelToolset", "register_toolset"]
