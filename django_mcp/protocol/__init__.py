"""The transport-free MCP core: JSON-RPC framing, method handlers and tool context."""

from __future__ import annotations
