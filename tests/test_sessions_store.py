"""Session rows: open/close with signals, the batched worker sync, terminate, stale cleanup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from django_mcp import store
from django_mcp.models import McpSession
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.session import ServerSession
from django_mcp.signals import session_closed, session_opened
from django_mcp.transports.hub import WORKER_ID, hub, new_binding

pytestmark = pytest.mark.django_db(transaction=True)

SCOPE = {
    "type": "http",
    "client": ("10.1.2.3", 5555),
    "headers": [(b"user-agent", b"test-agent/1.0")],
}


class FakeStream:
    """What the hub needs from a transport: it records the terminate reason."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.terminated: str | None = None

    async def heartbeat(self) -> None:
        return None

    async def terminate(self, reason: str) -> None:
        self.terminated = reason
        hub.unregister(self.session_id)


class Signals:
    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []
        self.closed: list[dict[str, Any]] = []

    def on_open(self, sender: Any, **kwargs: Any) -> None:
        self.opened.append({"sender": sender, **kwargs})

    def on_close(self, sender: Any, **kwargs: Any) -> None:
        self.closed.append({"sender": sender, **kwargs})


@pytest.fixture
def signals() -> Iterator[Signals]:
    seen = Signals()
    session_opened.connect(seen.on_open)
    session_closed.connect(seen.on_close)
    yield seen
    session_opened.disconnect(seen.on_open)
    session_closed.disconnect(seen.on_close)


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("operator")


def new_session(user: Any, number: int = 1) -> ServerSession:
    async def discard(message: Any) -> None:
        return None

    return ServerSession(
        session_id=f"{number}-{hub.new_session_id()}",
        user=user,
        send=discard,
        handlers=Handlers(),
        transport="sse",
    )


async def open_live(user: Any, number: int = 1) -> tuple[ServerSession, FakeStream]:
    session = new_session(user, number)
    await sync_to_async(store.record_open)(session, SCOPE, None, "channel")
    stream = FakeStream(session.id)
    hub.register(session, stream, new_binding(user.pk, None, None))
    return session, stream


def row(session_id: str) -> McpSession:
    return McpSession.objects.get(pk=session_id)


# Open and close -----------------------------------------------------------------


def test_open_records_the_row_and_sends_session_opened(user: Any, signals: Signals) -> None:
    session = new_session(user)
    store.record_open(session, SCOPE, None, "the-channel")
    saved = row(session.id)
    assert saved.user == user
    assert saved.remote_addr == "10.1.2.3"
    assert saved.user_agent == "test-agent/1.0"
    assert saved.worker == WORKER_ID
    assert saved.heartbeat_at is not None
    assert saved.is_live
    [opened] = signals.opened
    assert opened["sender"] is McpSession
    assert opened["session"].pk == session.id
    assert opened["scope"] is SCOPE


def test_close_records_reason_and_counters_and_sends_session_closed(
    user: Any, signals: Signals
) -> None:
    session = new_session(user)
    store.record_open(session, SCOPE, None, "")
    session.request_count, session.error_count = 7, 2
    store.record_close(session, McpSession.CloseReason.CLIENT_DISCONNECT)
    saved = row(session.id)
    assert saved.closed_at is not None
    assert saved.close_reason == "client-disconnect"
    assert (saved.request_count, saved.error_count) == (7, 2)
    [closed] = signals.closed
    assert closed["sender"] is McpSession
    assert closed["session"].pk == session.id
    assert closed["reason"] == "client-disconnect"


def test_session_closed_fires_once_when_terminated_then_disconnected(
    user: Any, signals: Signals
) -> None:
    session = new_session(user)
    store.record_open(session, SCOPE, None, "")
    assert store.terminate([session.id]) == [session.id]
    session.request_count = 3
    store.record_close(session, McpSession.CloseReason.TERMINATED)
    assert [c["reason"] for c in signals.closed] == ["terminated"]
    saved = row(session.id)
    assert saved.close_reason == "terminated"
    # The worker's final counters still land on the already closed row.
    assert saved.request_count == 3


# The batched sync ------------------------------------------------------------------


async def test_messages_cause_no_write_until_the_sync(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = await open_live(user)
    syncs: list[list[store.Activity]] = []
    original = store.sync_worker

    def spy(worker: str, changed: list[store.Activity], since: Any) -> dict[str, str]:
        syncs.append(list(changed))
        return original(worker, changed, since)

    monkeypatch.setattr(store, "sync_worker", spy)
    try:
        before = await McpSession.objects.aget(pk=session.id)
        for number in range(25):
            session.receive({"jsonrpc": "2.0", "id": number, "method": "ping"})
        assert session.request_count == 25
        # No write per message: the row still has its opening values.
        assert (await McpSession.objects.aget(pk=session.id)).request_count == 0
        await asyncio.sleep(0.01)
        await store.pulse.sync()
        synced = await McpSession.objects.aget(pk=session.id)
        assert synced.request_count == 25
        assert synced.last_active_at > before.last_active_at
        assert synced.heartbeat_at is not None
        assert before.heartbeat_at is not None
        assert synced.heartbeat_at >= before.heartbeat_at
        # A sync with nothing new writes the heartbeat only, no counters.
        await store.pulse.sync()
        assert [len(changed) for changed in syncs] == [1, 0]
    finally:
        hub.unregister(session.id)


async def test_sync_refreshes_the_heartbeat_of_every_live_row_of_the_worker(user: Any) -> None:
    first, _ = await open_live(user, 1)
    second, _ = await open_live(user, 2)
    old = timezone.now() - timedelta(minutes=10)
    try:
        await McpSession.objects.filter(pk__in=[first.id, second.id]).aupdate(heartbeat_at=old)
        await store.pulse.sync()
        async for saved in McpSession.objects.filter(pk__in=[first.id, second.id]):
            assert saved.heartbeat_at is not None
            assert saved.heartbeat_at > old
    finally:
        hub.unregister(first.id)
        hub.unregister(second.id)


async def test_sync_ends_streams_whose_rows_were_closed_elsewhere(user: Any) -> None:
    session, stream = await open_live(user)
    # Another process (admin on another worker, no channel layer) closed the row.
    await McpSession.objects.filter(pk=session.id).aupdate(
        closed_at=timezone.now(), close_reason=McpSession.CloseReason.TERMINATED
    )
    await store.pulse.sync()
    assert stream.terminated == "terminated"
    assert hub.get(session.id) is None


async def test_idle_timeout_closes_quiet_streams(user: Any) -> None:
    quiet, quiet_stream = await open_live(user, 1)
    busy, busy_stream = await open_live(user, 2)
    try:
        quiet.last_activity = time.monotonic() - 120
        with override_settings(DJANGO_MCP={"SESSION_IDLE_TIMEOUT": 60}):
            await store.pulse.sync()
        assert quiet_stream.terminated == "idle-timeout"
        assert busy_stream.terminated is None
    finally:
        hub.unregister(busy.id)


async def test_pulse_runs_while_sessions_are_open(user: Any) -> None:
    session, _ = await open_live(user)
    stale = timezone.now() - timedelta(minutes=10)
    await McpSession.objects.filter(pk=session.id).aupdate(heartbeat_at=stale)
    try:
        with override_settings(DJANGO_MCP={"SESSION_SYNC_INTERVAL": 0.05}):
            store.pulse.start()
            for _ in range(200):
                saved = await McpSession.objects.aget(pk=session.id)
                if saved.heartbeat_at and saved.heartbeat_at > stale:
                    break
                await sync_to_async(time.sleep)(0.02)
        assert saved.heartbeat_at is not None
        assert saved.heartbeat_at > stale
    finally:
        hub.unregister(session.id)


# Terminate ---------------------------------------------------------------------------


async def test_terminate_closes_the_row_first_then_the_local_stream(
    user: Any, signals: Signals
) -> None:
    session, stream = await open_live(user)
    ended = await sync_to_async(store.terminate)([session.id])
    assert ended == [session.id]
    assert stream.terminated == "terminated"
    assert hub.get(session.id) is None
    saved = await McpSession.objects.aget(pk=session.id)
    assert saved.close_reason == "terminated"
    assert saved.closed_at is not None
    assert [c["reason"] for c in signals.closed] == ["terminated"]


async def test_terminate_ignores_closed_and_unknown_sessions(user: Any) -> None:
    session, _ = await open_live(user)
    await sync_to_async(store.terminate)([session.id])
    again = await sync_to_async(store.terminate)([session.id, "no-such-session"])
    assert again == []


# Stale sessions ---------------------------------------------------------------------------


def make_row(user: Any, session_id: str, **fields: Any) -> McpSession:
    return McpSession.objects.create(id=session_id, user=user, **fields)


def test_close_stale_closes_rows_of_dead_workers_only(user: Any, signals: Signals) -> None:
    now = timezone.now()
    long_ago = now - timedelta(minutes=30)
    make_row(user, "dead", worker="w-dead", heartbeat_at=long_ago, opened_at=long_ago)
    make_row(user, "alive", worker="w-alive", heartbeat_at=now, opened_at=long_ago)
    make_row(user, "old-no-beat", heartbeat_at=None, opened_at=long_ago)
    make_row(
        user,
        "closed",
        heartbeat_at=long_ago,
        closed_at=long_ago,
        close_reason=McpSession.CloseReason.CLIENT_DISCONNECT,
    )
    closed = store.close_stale()
    assert sorted(closed) == ["dead", "old-no-beat"]
    dead = row("dead")
    assert dead.close_reason == "worker-lost"
    # Closed at the last moment its worker was known to be alive.
    assert dead.closed_at == long_ago
    assert row("alive").is_live
    assert row("closed").close_reason == "client-disconnect"
    assert sorted((c["session"].pk, c["reason"]) for c in signals.closed) == [
        ("dead", "worker-lost"),
        ("old-no-beat", "worker-lost"),
    ]


def test_stale_threshold_comes_from_the_setting(user: Any) -> None:
    beat = timezone.now() - timedelta(seconds=90)
    make_row(user, "quiet", heartbeat_at=beat)
    with override_settings(DJANGO_MCP={"SESSION_STALE_AFTER": 120}):
        assert store.close_stale() == []
    with override_settings(DJANGO_MCP={"SESSION_STALE_AFTER": 60}):
        assert store.close_stale() == ["quiet"]


def test_a_failing_receiver_does_not_break_the_session(
    user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    session_opened.connect(broken)
    session_closed.connect(broken)
    try:
        session = new_session(user)
        store.record_open(session, SCOPE, None, "")
        store.record_close(session, McpSession.CloseReason.CLIENT_DISCONNECT)
    finally:
        session_opened.disconnect(broken)
        session_closed.disconnect(broken)
    assert row(session.id).close_reason == "client-disconnect"
    assert "receiver" in caplog.text
    assert "receiver bug" in caplog.text
