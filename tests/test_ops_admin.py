"""The sessions and tool-call admin: columns, filters, search, detail, terminate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_mcp.models import McpSession, ToolCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", None)
    client.force_login(admin)
    return client


@pytest.fixture
def sessions() -> dict[str, McpSession]:
    users = get_user_model()
    ada = users.objects.create_user("ada")
    bob = users.objects.create_user("bob")
    now = timezone.now()
    live = McpSession.objects.create(
        id="live-session-id-0001",
        user=ada,
        client_name="claude-code",
        client_version="2.1",
        protocol_version="2025-11-25",
        heartbeat_at=now,
        request_count=12,
        error_count=1,
    )
    closed = McpSession.objects.create(
        id="closed-session-id-0002",
        user=bob,
        client_name="cursor",
        protocol_version="2024-11-05",
        closed_at=now,
        close_reason=McpSession.CloseReason.CLIENT_DISCONNECT,
    )
    silent = McpSession.objects.create(
        id="silent-session-id-0003",
        user=bob,
        client_name="inspector",
        heartbeat_at=now - timedelta(hours=1),
    )
    return {"live": live, "closed": closed, "silent": silent}


CHANGELIST = "admin:django_mcp_mcpsession_changelist"


def test_changelist_columns(staff: Client, sessions: dict[str, McpSession]) -> None:
    response = staff.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    for header in ("User", "Client", "Protocol version", "Transport", "State", "Opened"):
        assert header in html
    assert "Last active" in html
    assert "Requests" in html
    assert "Errors" in html
    assert "claude-code 2.1" in html
    assert "mcp-live" in html
    assert "mcp-closed" in html
    assert "mcp-stale" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "live"}, {"claude-code", "inspector"}),
        ({"state": "closed"}, {"cursor"}),
        ({"state": "stale"}, {"inspector"}),
        ({"protocol_version": "2024-11-05"}, {"cursor"}),
        ({"transport": "sse"}, {"claude-code", "cursor", "inspector"}),
        ({"q": "claude"}, {"claude-code"}),
        ({"q": "bob"}, {"cursor", "inspector"}),
        ({"q": "live-session-id-0001"}, {"claude-code"}),
    ],
)
def test_filters_and_search(
    staff: Client, sessions: dict[str, McpSession], query: dict[str, str], expected: set[str]
) -> None:
    response = staff.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    shown = {row.client_name for row in response.context["cl"].result_list}
    assert shown == expected


def test_user_filter(staff: Client, sessions: dict[str, McpSession]) -> None:
    bob = sessions["closed"].user
    response = staff.get(reverse(CHANGELIST), {"user__id__exact": bob.pk})
    assert {row.pk for row in response.context["cl"].result_list} == {
        "closed-session-id-0002",
        "silent-session-id-0003",
    }


def test_detail_shows_recent_tool_calls_and_terminate_button(
    staff: Client, sessions: dict[str, McpSession]
) -> None:
    live = sessions["live"]
    ToolCall.objects.create(session=live, tool="books_search", outcome="ok", duration_ms=3.5)
    ToolCall.objects.create(session=live, tool="lend_book", outcome="tool-error", error="no copies")
    response = staff.get(reverse("admin:django_mcp_mcpsession_change", args=[live.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "books_search" in html
    assert "lend_book" in html
    assert "no copies" in html
    assert 'id="mcp-terminate"' in html
    # Everything is read-only: no save buttons.
    assert 'name="_save"' not in html


def test_closed_session_has_no_terminate_button_and_may_be_deleted(
    staff: Client, sessions: dict[str, McpSession]
) -> None:
    closed = sessions["closed"]
    html = staff.get(reverse("admin:django_mcp_mcpsession_change", args=[closed.pk])).content
    assert b'id="mcp-terminate"' not in html
    assert b"No tool calls." in html
    delete = reverse("admin:django_mcp_mcpsession_delete", args=[closed.pk])
    assert staff.get(delete).status_code == 200
    live_delete = reverse("admin:django_mcp_mcpsession_delete", args=[sessions["live"].pk])
    assert staff.get(live_delete).status_code == 403


def test_terminate_button(staff: Client, sessions: dict[str, McpSession]) -> None:
    live = sessions["live"]
    url = reverse("admin:django_mcp_mcpsession_terminate", args=[live.pk])
    assert staff.get(url).status_code == 302  # GET changes nothing
    assert McpSession.objects.get(pk=live.pk).is_live
    response = staff.post(url, follow=True)
    assert response.status_code == 200
    assert b"The session was terminated." in response.content
    live.refresh_from_db()
    assert live.close_reason == "terminated"
    assert live.closed_at is not None
    again = staff.post(url, follow=True)
    assert b"The session was already closed." in again.content


def test_terminate_action(staff: Client, sessions: dict[str, McpSession]) -> None:
    response = staff.post(
        reverse(CHANGELIST),
        {
            "action": "terminate_sessions",
            "_selected_action": [s.pk for s in sessions.values()],
        },
        follow=True,
    )
    assert b"2 sessions terminated." in response.content
    reasons = dict(McpSession.objects.values_list("pk", "close_reason"))
    assert reasons == {
        "live-session-id-0001": "terminated",
        "silent-session-id-0003": "terminated",
        "closed-session-id-0002": "client-disconnect",
    }


def test_terminate_needs_change_permission(client: Client, sessions: dict[str, McpSession]) -> None:
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_mcpsession"))
    client.force_login(viewer)
    live = sessions["live"]
    page = client.get(reverse("admin:django_mcp_mcpsession_change", args=[live.pk]))
    assert page.status_code == 200
    assert b'id="mcp-terminate"' not in page.content
    url = reverse("admin:django_mcp_mcpsession_terminate", args=[live.pk])
    assert client.post(url).status_code == 403
    assert McpSession.objects.get(pk=live.pk).is_live


def test_tool_call_admin(staff: Client, sessions: dict[str, McpSession]) -> None:
    live = sessions["live"]
    ada = live.user
    ToolCall.objects.create(
        session=live, user=ada, tool="login", outcome="ok", arguments={"password": "[redacted]"}
    )
    ToolCall.objects.create(session=live, user=ada, tool="search", outcome="protocol-error")
    secret = ToolCall.objects.create(session=live, user=ada, tool="store", outcome="ok")
    changelist = reverse("admin:django_mcp_toolcall_changelist")
    html = staff.get(changelist).content.decode()
    assert "login" in html
    assert "protocol error" in html
    for query, expected in (
        ({"outcome__exact": "protocol-error"}, {"search"}),
        ({"tool": "login"}, {"login"}),
        ({"user__id__exact": ada.pk}, {"login", "search", "store"}),
        ({"session__id__exact": live.pk}, {"login", "search", "store"}),
    ):
        result = staff.get(changelist, query).context["cl"].result_list
        assert {call.tool for call in result} == expected, query
    detail = staff.get(reverse("admin:django_mcp_toolcall_change", args=[secret.pk]))
    assert detail.status_code == 200
    assert b"Not logged" in detail.content
    assert b'name="_save"' not in detail.content
    assert staff.get(reverse("admin:django_mcp_toolcall_add")).status_code == 403
    assert staff.get(changelist).context["cl"].date_hierarchy == "started_at"
