"""django-mcp: serve the Model Context Protocol from a Django site."""

from __future__ import annotations

__version__ = "0.1.0"
