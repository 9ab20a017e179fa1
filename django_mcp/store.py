"""Database records of sessions: open, initialize, close, and a batched sync in between.

Nothing here is written per message. A session's row is written when its
stream opens, when it initializes and when it closes. In between, one task per
worker (:class:`Pulse`) wakes every ``SESSION_SYNC_INTERVAL`` seconds and:

- refreshes the worker heartbeat of all its live rows in one ``UPDATE``;
- writes the counters and last activity of the sessions that changed since
  the last sync, in one ``executemany`` (:func:`django_mcp.rows.update`);
- closes the streams of rows that were closed elsewhere (an admin terminate
  that could not reach this worker through a channel layer);
- closes the streams idle for longer than ``SESSION_IDLE_TIMEOUT``.

A row whose heartbeat is older than ``SESSION_STALE_AFTER`` belongs to a worker
that died; :func:`close_stale` (run by ``manage.py mcp_clearsessions``) closes it
as ``worker-lost``. The sync functions here run in threads; the async
transports call them through ``database_sync_to_async``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db.models import F
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from django_mcp import rows
from django_mcp.calllog import storable
from django_mcp.conf import mcp_settings
from django_mcp.models import ApiToken, McpSession, ToolCall
from django_mcp.signals import session_closed, session_opened
from django_mcp.transports.hub import WORKER_ID, hub

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

logger = logging.getLogger("django_mcp")

CloseReason = McpSession.CloseReason

#: Rows per closing update and per delete.
CHUNK = 500


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


# Lifecycle of one row ------------------------------------------------------


def record_open(
    session: ServerSession, scope: dict[str, Any], token: Any, channel_name: str
) -> None:
    client = scope.get("client") or (None, None)
    now = timezone.now()
    row = McpSession.objects.create(
        id=session.id,
        user_id=session.user.pk,  # type: ignore[misc]  # always set: the user is authenticated
        token=token if isinstance(token, ApiToken) else None,
        transport=session.transport,
        remote_addr=client[0],
        user_agent=_header(scope, b"user-agent")[:300],
        channel_name=channel_name,
        worker=WORKER_ID,
        opened_at=now,
        last_active_at=now,
        heartbeat_at=now,
    )
    _send(session_opened, session=row, scope=scope)


def record_initialize(session: ServerSession) -> None:
    info = session.client_info
    # What the client says about itself is stored without the characters a
    # database refuses (a NUL fails the whole update on PostgreSQL).
    McpSession.objects.filter(pk=session.id).update(
        protocol_version=session.protocol_version or "",
        client_name=storable(str(info.get("name", ""))[:200]),
        client_version=storable(str(info.get("version", ""))[:100]),
        client_capabilities=storable(session.client_capabilities),
        last_active_at=timezone.now(),
    )


def record_close(session: ServerSession, reason: str) -> None:
    """The stream ended: write the final counters, and close the row unless
    someone (an admin terminate, the stale cleanup) already did."""
    now = timezone.now()
    counters = {
        "request_count": session.request_count,
        "error_count": session.error_count,
        "last_active_at": _wall_clock(session.last_activity),
    }
    closed = McpSession.objects.filter(pk=session.id, closed_at__isnull=True).update(
        closed_at=now, close_reason=reason, **counters
    )
    if closed:
        _send_closed([session.id])
    else:
        McpSession.objects.filter(pk=session.id).update(**counters)


def _wall_clock(monotonic: float) -> datetime:
    return timezone.now() - timedelta(seconds=max(time.monotonic() - monotonic, 0.0))


def _send_closed(ids: Iterable[str]) -> None:
    ids = list(ids)
    if not ids or not session_closed.has_listeners(McpSession):
        return
    for row in McpSession.objects.filter(pk__in=ids).select_related("user"):
        _send(session_closed, session=row, reason=row.close_reason)


def _send(signal: Signal, **kwargs: Any) -> None:
    # A failing receiver of the site's must not break a stream's opening or closing.
    for receiver, result in signal.send_robust(sender=McpSession, **kwargs):
        if isinstance(result, Exception):
            logger.error("MCP session signal receiver %r failed", receiver, exc_info=result)


def find_remote(session_id: str, user_id: Any) -> str | None:
    """The channel name of an open session of ``user_id`` held by another worker."""
    row = (
        McpSession.objects.filter(pk=session_id, user_id=user_id, closed_at__isnull=True)
        .values_list("channel_name", flat=True)
        .first()
    )
    return row or None


# Terminate -----------------------------------------------------------------


def terminate(session_ids: Iterable[str], reason: str = CloseReason.TERMINATED) -> list[str]:
    """Close live sessions: mark their rows closed, then end their streams.

    The row is closed first, so POSTs answer 404 at once whichever worker they
    land on. The stream is ended through the hub: directly when this process
    holds it, else through the channel layer; a worker the layer cannot reach
    ends it at its next sync. Returns the ids that were live.
    """
    ids = list(
        McpSession.objects.filter(pk__in=list(session_ids), closed_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return []
    McpSession.objects.filter(pk__in=ids, closed_at__isnull=True).update(
        closed_at=timezone.now(), close_reason=reason
    )
    _send_closed(ids)
    async_to_sync(_end_streams)(ids, reason)
    return ids


async def _end_streams(ids: list[str], reason: str) -> None:
    for session_id in ids:
        try:
            await hub.terminate(session_id, reason)
        except Exception:
            # The row is closed; the holding worker ends the stream at its next sync.
            logger.exception("Could not reach the stream of session %s", session_id)


# The worker's periodic sync ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Activity:
    session_id: str
    request_count: int
    error_count: int
    last_active_at: datetime


def sync_worker(worker: str, changed: list[Activity], closed_since: datetime) -> dict[str, str]:
    """One sync of a worker's live rows; returns ``{id: close_reason}`` of its rows
    closed since ``closed_since`` (the caller ends those it still streams)."""
    now = timezone.now()
    McpSession.objects.filter(worker=worker, closed_at__isnull=True).update(heartbeat_at=now)
    # One UPDATE per row, run with executemany: bulk_update's CASE expressions
    # cost far more, every sync of a worker with thousands of active sessions.
    rows.update(
        McpSession,
        ("request_count", "error_count", "last_active_at"),
        [
            (item.session_id, (item.request_count, item.error_count, item.last_active_at))
            for item in changed
        ],
    )
    return dict(
        McpSession.objects.filter(worker=worker, closed_at__gte=closed_since).values_list(
            "pk", "close_reason"
        )
    )


class Pulse:
    """The per-worker task that syncs live sessions to the database (see the module doc)."""

    def __init__(self, worker: str = WORKER_ID) -> None:
        self.worker = worker
        self._task: asyncio.Task[None] | None = None
        self._synced: dict[str, tuple[int, int, float]] = {}
        self._last_sync = timezone.now()

    def start(self) -> None:
        """Make sure the task runs on this event loop (called when a stream opens)."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._last_sync = timezone.now()
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while len(hub):
            await asyncio.sleep(mcp_settings.SESSION_SYNC_INTERVAL)
            try:
                await self.sync()
            except Exception:
                logger.exception("Could not sync the MCP sessions of worker %s", self.worker)

    async def sync(self) -> None:
        now = time.monotonic()
        idle_timeout = mcp_settings.SESSION_IDLE_TIMEOUT
        changed: list[Activity] = []
        idle: list[str] = []
        synced: dict[str, tuple[int, int, float]] = {}
        for session_id in hub.ids():
            local = hub.get(session_id)
            if local is None:
                continue
            session = local.session
            state = (session.request_count, session.error_count, session.last_activity)
            synced[session_id] = state
            if self._synced.get(session_id) != state:
                changed.append(
                    Activity(
                        session_id,
                        session.request_count,
                        session.error_count,
                        _wall_clock(session.last_activity),
                    )
                )
            if idle_timeout is not None and now - session.last_activity > idle_timeout:
                idle.append(session_id)
        # Rows closed by the previous sync's run are looked at again: harmless.
        since = self._last_sync - timedelta(seconds=mcp_settings.SESSION_SYNC_INTERVAL)
        self._last_sync = timezone.now()
        closed = await database_sync_to_async(sync_worker)(self.worker, changed, since)
        self._synced = synced
        for session_id, reason in closed.items():
            if hub.get(session_id) is not None:
                await hub.terminate(session_id, reason or CloseReason.TERMINATED)
        for session_id in idle:
            if hub.get(session_id) is not None:
                await hub.terminate(session_id, CloseReason.IDLE_TIMEOUT)


#: This process's pulse.
pulse = Pulse()


# Cleanup ---------------------------------------------------------------------


def stale_sessions(stale_after: float | None = None) -> Any:
    """Live rows whose worker has not written a heartbeat for ``stale_after`` seconds."""
    seconds = mcp_settings.SESSION_STALE_AFTER if stale_after is None else stale_after
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return (
        McpSession.objects.filter(closed_at__isnull=True)
        .annotate(alive_at=Coalesce("heartbeat_at", "opened_at"))
        .filter(alive_at__lt=cutoff)
    )


def close_stale(stale_after: float | None = None) -> list[str]:
    """Close, as ``worker-lost``, the live rows of workers that died; returns their ids.

    A row is closed at its last heartbeat, the last moment its worker was known alive.
    """
    ids = list(stale_sessions(stale_after).values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        McpSession.objects.filter(pk__in=ids[start : start + CHUNK], closed_at__isnull=True).update(
            closed_at=Coalesce(F("heartbeat_at"), F("last_active_at")),
            close_reason=CloseReason.WORKER_LOST,
        )
    _send_closed(ids)
    return ids


def expired_sessions(days: float | None = None) -> Any:
    """Closed sessions past ``SESSION_RETENTION_DAYS`` (none when retention is off)."""
    days = mcp_settings.SESSION_RETENTION_DAYS if days is None else days
    if days is None:
        return McpSession.objects.none()
    cutoff = timezone.now() - timedelta(days=days)
    return McpSession.objects.filter(closed_at__isnull=False, closed_at__lt=cutoff)


def expired_calls(days: float | None = None) -> Any:
    """Tool-call rows past ``TOOL_CALL_RETENTION_DAYS`` (none when retention is off)."""
    days = mcp_settings.TOOL_CALL_RETENTION_DAYS if days is None else days
    if days is None:
        return ToolCall.objects.none()
    return ToolCall.objects.filter(started_at__lt=timezone.now() - timedelta(days=days))


def delete_in_chunks(queryset: Any) -> int:
    """Delete the rows of ``queryset`` a chunk at a time, to keep transactions short."""
    deleted = 0
    model = queryset.model
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:CHUNK])
        if not ids:
            return deleted
        if model is McpSession:
            ToolCall.objects.filter(session_id__in=ids).update(session=None)
        model._default_manager.filter(pk__in=ids).delete()
        deleted += len(ids)
