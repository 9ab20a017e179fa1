"""mcp_tools, mcp_sessions, mcp_call and mcp_clearsessions."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_mcp import calllog
from django_mcp.models import McpSession, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("ada")


@pytest.fixture(autouse=True)
def fresh_recorder() -> None:
    calllog.recorder._pending.clear()


# mcp_tools ---------------------------------------------------------------------------------------


def test_mcp_tools_prints_schemas_and_permissions() -> None:
    out = run("mcp_tools")
    assert "add" in out
    assert '"The second number"' in out  # from the input schema
    assert "output schema:" in out
    assert "needs auth.view_user" in out  # staff_report's permission
    assert "any authenticated user" in out


def test_mcp_tools_json_and_user_filter(user: Any) -> None:
    every = {tool["name"]: tool for tool in json.loads(run("mcp_tools", "--json"))}
    assert every["add"]["inputSchema"]["required"] == ["a"]
    assert every["staff_report"]["permission"] == "needs auth.view_user"
    visible = {tool["name"] for tool in json.loads(run("mcp_tools", "--json", "--user", "ada"))}
    assert "add" in visible
    assert "staff_report" not in visible


def test_mcp_tools_unknown_name() -> None:
    with pytest.raises(CommandError, match="Unknown tool"):
        run("mcp_tools", "nope")


# mcp_sessions ------------------------------------------------------------------------------------


def make(user: Any, session_id: str, **fields: Any) -> McpSession:
    return McpSession.objects.create(id=session_id, user=user, **fields)


def test_mcp_sessions_lists_live_sessions_only(user: Any) -> None:
    make(
        user,
        "live-one",
        client_name="claude-code",
        client_version="2.0",
        heartbeat_at=timezone.now(),
    )
    make(
        user,
        "closed-one",
        client_name="cursor",
        closed_at=timezone.now(),
        close_reason="terminated",
    )
    out = run("mcp_sessions")
    assert "live-one" in out
    assert "claude-code 2.0" in out
    assert "closed-one" not in out
    everything = run("mcp_sessions", "--all")
    assert "closed-one" in everything
    assert "terminated" in everything


def test_mcp_sessions_json_and_stale(user: Any) -> None:
    old = timezone.now() - timedelta(hours=1)
    make(user, "fresh", heartbeat_at=timezone.now())
    make(user, "stale", heartbeat_at=old, opened_at=old)
    rows = [json.loads(line) for line in run("mcp_sessions", "--json").splitlines()]
    assert {r["id"] for r in rows} == {"fresh", "stale"}
    stale = [json.loads(line) for line in run("mcp_sessions", "--stale", "--json").splitlines()]
    assert [r["id"] for r in stale] == ["stale"]


def test_mcp_sessions_terminate(user: Any) -> None:
    make(user, "doomed")
    out = run("mcp_sessions", "--terminate", "doomed")
    assert "Terminated doomed" in out
    doomed = McpSession.objects.get(pk="doomed")
    assert doomed.close_reason == "terminated"
    with pytest.raises(CommandError, match="No session with id missing"):
        run("mcp_sessions", "--terminate", "missing")


# mcp_call ----------------------------------------------------------------------------------------


def test_mcp_call_prints_the_result_and_logs_the_call(user: Any) -> None:
    out = run("mcp_call", "ada", "add", "a=40", "b=2")
    result = json.loads(out)
    assert result["structuredContent"] == {"total": 42, "count": 2}
    [row] = ToolCall.objects.all()
    assert (row.tool, row.outcome, row.user_id, row.session_id) == ("add", "ok", user.pk, None)
    assert row.arguments == {"a": 40, "b": 2}


def test_mcp_call_with_json_arguments(user: Any) -> None:
    out = run("mcp_call", "ada", "add", "--json", '{"a": 1, "b": 1}')
    assert json.loads(out)["structuredContent"]["total"] == 2


def test_mcp_call_tool_error_exits_non_zero(user: Any) -> None:
    with pytest.raises(CommandError, match="The tool reported an error"):
        run("mcp_call", "ada", "fail", "message=nope")
    assert ToolCall.objects.get().outcome == "tool-error"


def test_mcp_call_protocol_errors(user: Any) -> None:
    with pytest.raises(CommandError, match="-32602: Invalid arguments for tool add"):
        run("mcp_call", "ada", "add", "a=notanumber")
    with pytest.raises(CommandError, match="-32602: Unknown tool: staff_report"):
        run("mcp_call", "ada", "staff_report")
    with pytest.raises(CommandError, match="No user named 'bob'"):
        run("mcp_call", "bob", "add", "a=1")
    with pytest.raises(CommandError, match="Expected key=value"):
        run("mcp_call", "ada", "add", "a")


def test_mcp_call_respects_permissions(user: Any) -> None:
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    assert json.loads(run("mcp_call", "ada", "staff_report"))["structuredContent"] == {
        "result": ["secret"]
    }


# mcp_clearsessions -------------------------------------------------------------------------------


def test_mcp_clearsessions_deletes_what_it_should_and_nothing_else(user: Any) -> None:
    now = timezone.now()
    days = timedelta(days=1)
    make(user, "closed-old", closed_at=now - 40 * days, close_reason="client-disconnect")
    make(user, "closed-recent", closed_at=now - 2 * days, close_reason="client-disconnect")
    make(user, "live-old", opened_at=now - 40 * days, heartbeat_at=now)
    make(user, "live-dead-worker", opened_at=now - 3 * days, heartbeat_at=now - days)
    for name, started in (("old", now - 100 * days), ("recent", now - 2 * days)):
        ToolCall.objects.create(
            tool=name, started_at=started, outcome="ok", session_id="closed-old"
        )
    out = run("mcp_clearsessions")
    assert "Closed 1 stale session(s); deleted 1 closed session(s) and 1 tool call(s)." in out
    remaining = dict(McpSession.objects.values_list("pk", "close_reason"))
    assert remaining == {
        "closed-recent": "client-disconnect",
        "live-old": "",
        "live-dead-worker": "worker-lost",
    }
    [call] = ToolCall.objects.all()
    assert call.tool == "recent"
    # The surviving call of a deleted session keeps the row, without the session.
    assert call.session_id is None


def test_mcp_clearsessions_dry_run_changes_nothing(user: Any) -> None:
    now = timezone.now()
    make(user, "closed-old", closed_at=now - timedelta(days=40))
    make(user, "dead", heartbeat_at=now - timedelta(hours=1))
    out = run("mcp_clearsessions", "--dry-run")
    assert "Would close 1 stale session(s), delete 1 closed session(s) and 0 tool call(s)." in out
    assert McpSession.objects.count() == 2
    assert McpSession.objects.get(pk="dead").is_live


def test_mcp_clearsessions_retention_settings_and_options(user: Any) -> None:
    now = timezone.now()
    make(user, "closed-10d", closed_at=now - timedelta(days=10))
    ToolCall.objects.create(tool="t", started_at=now - timedelta(days=10), outcome="ok")
    with override_settings(
        DJANGO_MCP={"SESSION_RETENTION_DAYS": None, "TOOL_CALL_RETENTION_DAYS": None}
    ):
        run("mcp_clearsessions")
    assert McpSession.objects.count() == 1
    assert ToolCall.objects.count() == 1
    with override_settings(DJANGO_MCP={"SESSION_RETENTION_DAYS": 7}):
        run("mcp_clearsessions", "--call-days", "30")
    assert McpSession.objects.count() == 0
    assert ToolCall.objects.count() == 1
    run("mcp_clearsessions", "--call-days", "5")
    assert ToolCall.objects.count() == 0


def test_mcp_clearsessions_stale_after_option(user: Any) -> None:
    make(user, "quiet", heartbeat_at=timezone.now() - timedelta(seconds=30))
    run("mcp_clearsessions")
    assert McpSession.objects.get(pk="quiet").is_live
    run("mcp_clearsessions", "--stale-after", "10")
    assert McpSession.objects.get(pk="quiet").close_reason == "worker-lost"
    with pytest.raises(CommandError, match="must not be negative"):
        run("mcp_clearsessions", "--stale-after", "-1")
