"""The models and the migrations of django_mcp agree."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "django_mcp", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"django_mcp has model changes without a migration:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
