"""Events for every session of every worker: resource updates and list changes.

``publish(event)`` may be called from anywhere: a ``post_save`` receiver in a
request thread, a management command, a tool on the event loop. Each worker
process runs one listener on the channel layer group :data:`GROUP` and hands
what it hears to its own :data:`~django_mcp.protocol.live.live_sessions`,
which forwards it to the sessions it concerns.

The listener is one per process, not one per stream, so a process with 10,000
open streams holds a single group membership. Memberships of
``RedisChannelLayer`` expire after its ``group_expiry`` (a day by default); the
listener renews its own well before that. ``RedisPubSubChannelLayer`` has no
expiry. With no channel layer, or the in-memory layer (which never leaves the
process), events are delivered in-process directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from django_mcp.conf import mcp_settings
from django_mcp.protocol.live import live_sessions

logger = logging.getLogger("django_mcp")

#: The channel-layer group every worker's listener joins.
GROUP = "django_mcp.broadcast"
#: The ``type`` of broadcast messages on the layer.
MESSAGE_TYPE = "mcp.broadcast"

#: Seconds between renewals of the listener's group membership, at most.
RENEW_INTERVAL = 3600.0
#: Seconds to wait before listening again after the layer failed.
RETRY_DELAY = 0.2


def _layer() -> Any:
    """The layer that reaches other processes, or ``None`` to deliver in-process."""
    layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


class _Listener:
    """The per-process listener on one event loop.

    It keeps one channel for its whole life: when the layer fails (Redis
    restarts, a read times out) it joins the group again and goes on reading
    the same channel, so what the list-based layer queued meanwhile is not lost.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.ready = asyncio.Event()
        self.channel = ""
        self.task = asyncio.ensure_future(self._run())

    def renew_interval(self) -> float:
        expiry = getattr(self.layer, "group_expiry", None)
        if isinstance(expiry, int | float) and expiry > 0:
            return min(RENEW_INTERVAL, expiry / 4)
        return RENEW_INTERVAL

    async def _run(self) -> None:
        renew: asyncio.Future[None] | None = None
        try:
            while True:
                try:
                    if not self.channel:
                        self.channel = await self.layer.new_channel()
                    await self.layer.group_add(GROUP, self.channel)
                    self.ready.set()
                    if renew is None:
                        renew = asyncio.ensure_future(self._renew())
                    await self._receive()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("MCP broadcast listener: %r; listening again", exc)
                    await asyncio.sleep(RETRY_DELAY)
        finally:
            if renew is not None:
                renew.cancel()

    async def _receive(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") == MESSAGE_TYPE and isinstance(message.get("event"), dict):
                live_sessions.dispatch(message["event"])

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_interval())
            try:
                await self.layer.group_add(GROUP, self.channel)
            except Exception as exc:
                logger.warning("Could not renew the MCP broadcast group membership: %r", exc)


_listeners: dict[asyncio.AbstractEventLoop, _Listener] = {}


async def ensure_listener() -> None:
    """Start this process's listener if needed; return once it has joined the group."""
    layer = _layer()
    if layer is None:
        return
    loop = asyncio.get_running_loop()
    listener = _listeners.get(loop)
    if listener is None or listener.task.done():
        listener = _listeners[loop] = _Listener(layer)
    await listener.ready.wait()


async def stop_listeners() -> None:
    """Stop the listener of the running loop (tests, shutdown)."""
    listener = _listeners.pop(asyncio.get_running_loop(), None)
    if listener is not None:
        listener.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener.task


async def apublish(event: dict[str, Any]) -> None:
    """Send ``event`` to every worker's sessions (async version of :func:`publish`)."""
    layer = _layer()
    if layer is None:
        live_sessions.dispatch(event)
        return
    await layer.group_send(GROUP, {"type": MESSAGE_TYPE, "event": event})


_pending: set[asyncio.Task[None]] = set()


def publish(event: dict[str, Any]) -> None:
    """Send ``event`` to every worker's sessions; callable from sync or async code.

    Failures are logged, never raised: a notification must not break the save
    that caused it.
    """
    layer = _layer()
    if layer is None:
        live_sessions.dispatch(event)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            async_to_sync(apublish)(event)
        except Exception:
            logger.exception("Could not publish MCP event %r", event)
        return
    task = asyncio.ensure_future(_publish_logged(event))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _publish_logged(event: dict[str, Any]) -> None:
    try:
        await apublish(event)
    except Exception:
        logger.exception("Could not publish MCP event %r", event)


live_sessions.listener = ensure_listener
