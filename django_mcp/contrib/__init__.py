"""Optional apps shipped with django-mcp; none is enabled unless listed in INSTALLED_APPS."""

from __future__ import annotations
