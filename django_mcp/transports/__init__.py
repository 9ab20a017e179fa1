"""Transports carry MCP messages over HTTP; they know nothing of tools."""

from __future__ import annotations
