"""The django-mcp benchmark: ``python -m bench`` (see bench/run.py and docs/performance.md)."""

from __future__ import annotations
