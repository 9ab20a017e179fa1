"""Batched inserts and updates with executemany (django_mcp.rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from django_mcp import rows
from django_mcp.models import McpSession, ToolCall

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_insert_adapts_json_dates_and_nulls(django_user_model: Any) -> None:
    user = django_user_model.objects.create(username="ada")
    rows.insert(
        ToolCall,
        ("user", "tool", "arguments", "started_at", "duration_ms", "outcome", "error"),
        [
            (user.pk, "echo", {"message": "hi", "n": [1, 2.5, None]}, WHEN, 1.5, "ok", ""),
            (None, "echo", None, WHEN + timedelta(seconds=1), 0.0, "tool-error", "boom"),
        ],
    )
    first, second = ToolCall.objects.order_by("started_at")
    assert (first.user_id, first.arguments, first.started_at) == (
        user.pk,
        {"message": "hi", "n": [1, 2.5, None]},
        WHEN,
    )
    assert (second.user_id, second.arguments, second.error) == (None, None, "boom")


def test_insert_of_nothing_runs_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        rows.insert(ToolCall, ("tool",), [])
        rows.update(McpSession, ("request_count",), [])


def test_insert_goes_in_chunks_in_one_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "CHUNK", 2)
    rows.insert(
        ToolCall,
        ("tool", "started_at", "duration_ms", "outcome", "error"),
        [(f"t{n}", WHEN, 1.0, "ok", "") for n in range(5)],
    )
    assert sorted(ToolCall.objects.values_list("tool", flat=True)) == [f"t{n}" for n in range(5)]


def test_update_writes_each_row_by_primary_key(django_user_model: Any) -> None:
    user = django_user_model.objects.create(username="bob")
    for name in ("a", "b", "c"):
        McpSession.objects.create(id=name, user=user)
    rows.update(
        McpSession,
        ("request_count", "error_count", "last_active_at"),
        [("a", (3, 1, WHEN)), ("c", (7, 0, WHEN + timedelta(minutes=1)))],
    )
    saved = {
        s.id: (s.request_count, s.error_count, s.last_active_at) for s in McpSession.objects.all()
    }
    assert saved["a"] == (3, 1, WHEN)
    assert saved["c"] == (7, 0, WHEN + timedelta(minutes=1))
    assert saved["b"][:2] == (0, 0)  # untouched
