"""Hostile values in one tool call never cost the tool-call log its other rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from django_mcp import calllog
from django_mcp.models import ToolCall
from django_mcp.protocol.calls import CallRecord


def record(tool: str, arguments: dict[str, Any] | None, error: str = "") -> CallRecord:
    return CallRecord(
        session_id=None,
        user=None,
        tool=tool,
        arguments=arguments,
        started_at=datetime.now(UTC),
        duration_ms=1.0,
        outcome="protocol-error" if error else "ok",
        error=error,
    )


@pytest.mark.django_db
def test_a_batch_with_hostile_values_is_written_whole() -> None:
    calllog.write(
        [
            record("echo", {"message": "fine"}),
            record("echo", {"message": float("nan"), "n": [float("inf"), -float("inf")]}),
            record("ech\x00o", {"k\x00": "v\x00", "s": "\ud800x"}, error="Unknown tool: ech\x00o"),
            record("echo", {"message": "also fine"}),
        ]
    )
    rows = list(ToolCall.objects.order_by("pk"))
    assert len(rows) == 4
    assert rows[0].arguments == {"message": "fine"}
    assert rows[1].arguments == {"message": "nan", "n": ["inf", "-inf"]}
    assert rows[2].tool == "ech\ufffdo"
    assert rows[2].arguments == {"k\ufffd": "v\ufffd", "s": "?x"}
    assert rows[2].error == "Unknown tool: ech\ufffdo"
    assert rows[3].arguments == {"message": "also fine"}


def test_storable_leaves_ordinary_values_alone() -> None:
    value = {"a": [1, 2.5, True, None, "é ✓"], "b": {"c": "d"}}
    assert calllog.storable(value) == value


@pytest.mark.django_db
def test_client_info_is_stored_without_nul_or_lone_surrogates(django_user_model: Any) -> None:
    from types import SimpleNamespace

    from django_mcp import store
    from django_mcp.models import McpSession

    user = django_user_model.objects.create_user("client")
    McpSession.objects.create(id="s1", user=user)
    session = SimpleNamespace(
        id="s1",
        protocol_version="2025-06-18",
        client_info={"name": "bad\x00name", "version": "1\ud800"},
        client_capabilities={"x\x00": {"y": "\ud800"}},
    )
    store.record_initialize(session)  # type: ignore[arg-type]
    row = McpSession.objects.get(pk="s1")
    assert row.protocol_version == "2025-06-18"
    assert row.client_name == "bad\ufffdname"
    assert row.client_version == "1?"
    assert row.client_capabilities == {"x\ufffd": {"y": "?"}}
