"""The tool-call log: each ``tools/call`` becomes a :class:`~django_mcp.models.ToolCall` row.

The protocol core hands every finished call to :data:`recorder` on the event
loop. Recording must never delay the stream, so rows are queued and written in
batches by one task per event loop, with ``bulk_create`` in a worker thread, a
moment after the first call of a batch. The ``tool_called`` signal is sent from
a background task too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from django_mcp import rows
from django_mcp.conf import mcp_settings
from django_mcp.models import ToolCall
from django_mcp.protocol.calls import CallRecord, CallRecorder
from django_mcp.signals import tool_called

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

logger = logging.getLogger("django_mcp")

#: Seconds between the first call of a batch and its write.
FLUSH_DELAY = 0.25
#: Calls per write (one thread hand-off and one transaction each).
BATCH_SIZE = 500
#: Logged arguments larger than this (as JSON) are replaced by a note of their size.
MAX_ARGUMENTS_SIZE = 64 * 1024
#: Longest error message kept.
MAX_ERROR_LENGTH = 4000


def _arguments(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    size = len(json.dumps(value, default=str))
    if size > MAX_ARGUMENTS_SIZE:
        return {"_truncated": f"{size} bytes of arguments not logged"}
    cleaned: dict[str, Any] = storable(value)
    return cleaned


def storable(value: Any) -> Any:
    """``value`` without what databases refuse in text and JSON columns.

    Tool names, arguments and error messages come from the client. A NUL
    character or a lone surrogate (refused by PostgreSQL) or a NaN (refused by
    SQLite's JSON check) would otherwise fail the whole batch it was written in.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


#: The columns a log row is written with, by model field name (the primary
#: key gets its database default).
COLUMNS = ("session", "user", "tool", "arguments", "started_at", "duration_ms", "outcome", "error")


def write(calls: list[CallRecord]) -> None:
    """Insert log rows for ``calls`` (sync; runs in a worker thread).

    One ``INSERT`` run with ``executemany`` for the whole batch
    (:func:`django_mcp.rows.insert`): under load the log gets a row per call,
    and ``bulk_create`` spent about 40 microseconds of Python per row.
    """
    close_old_connections()
    try:
        rows.insert(
            ToolCall,
            COLUMNS,
            [
                (
                    call.session_id,
                    getattr(call.user, "pk", None),
                    storable(call.tool),
                    _arguments(call.arguments),
                    call.started_at,
                    round(call.duration_ms, 3),
                    call.outcome,
                    storable(call.error[:MAX_ERROR_LENGTH]),
                )
                for call in calls
            ],
        )
    finally:
        close_old_connections()


class DatabaseRecorder:
    """Queues log rows and writes them in batches; sends ``tool_called``."""

    def __init__(self) -> None:
        self._pending: list[CallRecord] = []
        self._flusher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def record(self, session: ServerSession, call: CallRecord) -> None:
        if mcp_settings.LOG_TOOL_CALLS:
            self._pending.append(call)
            self._schedule_flush()
        if tool_called.has_listeners(ToolCall):
            self._spawn(
                tool_called.asend(
                    sender=ToolCall,
                    session_id=call.session_id,
                    user=call.user,
                    tool=call.tool,
                    arguments=call.arguments,
                    outcome=call.outcome,
                    error=call.error,
                    duration_ms=call.duration_ms,
                    started_at=call.started_at,
                )
            )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _schedule_flush(self) -> None:
        loop = asyncio.get_running_loop()
        flusher = self._flusher
        # A flusher left behind by a loop that has since closed never runs.
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        await self.flush()

    async def flush(self) -> None:
        """Write every queued row now (the server does it by itself soon after a call)."""
        while self._pending:
            batch, self._pending = self._pending[:BATCH_SIZE], self._pending[BATCH_SIZE:]
            try:
                await sync_to_async(write, thread_sensitive=False)(batch)
            except Exception:
                logger.exception("Could not write %d tool-call log rows", len(batch))

    async def drain(self) -> None:
        """Flush the log and wait for the signal receivers (for commands and tests)."""
        await self.flush()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("A tool_called receiver failed", exc_info=task.exception())


class SessionlessRecorder:
    """Records calls that belong to no MCP session (``manage.py mcp_call``)."""

    def __init__(self, inner: CallRecorder) -> None:
        self.inner = inner

    def record(self, session: ServerSession, call: CallRecord) -> None:
        self.inner.record(session, replace(call, session_id=None))


#: The default ``DJANGO_MCP["CALL_RECORDER"]``.
recorder = DatabaseRecorder()
