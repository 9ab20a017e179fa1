"""URLconfs for the system-check tests."""

from __future__ import annotations
