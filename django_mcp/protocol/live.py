"""The initialized sessions of this process, for notifications nobody asked for.

Resource updates and ``list_changed`` notifications start outside any request:
a model saved in a view, a permission granted in the admin. They reach the
sessions of this process through :data:`live_sessions`; a relay (see
``django_mcp.broadcast``) carries them between worker processes and calls
:meth:`LiveSessions.dispatch` in each.

The table is transport-free. It is written on the event loop that runs the
sessions and read from any thread, so it is guarded by a lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django_mcp.protocol import jsonrpc

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

ListName = Literal["tools", "resources", "prompts"]
LIST_NAMES: tuple[ListName, ...] = ("tools", "resources", "prompts")


@dataclass
class _Entry:
    session: ServerSession
    loop: asyncio.AbstractEventLoop
    uris: set[str] = field(default_factory=set)


class LiveSessions:
    """Initialized sessions by id, with the resource URIs each subscribed to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        #: Set by the relay: makes sure this process hears other workers' events.
        self.listener: Callable[[], Awaitable[None]] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, session: ServerSession) -> None:
        """Register an initialized session; call on its event loop."""
        with self._lock:
            self._entries[session.id] = _Entry(session, asyncio.get_running_loop())

    def discard(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    async def listen(self) -> None:
        """Return once events published by other processes reach this one."""
        if self.listener is not None:
            await self.listener()

    # Subscriptions ------------------------------------------------------

    def subscribe(self, session: ServerSession, uri: str) -> None:
        with self._lock:
            entry = self._entries.get(session.id)
            if entry is None:
                entry = self._entries[session.id] = _Entry(session, asyncio.get_running_loop())
            entry.uris.add(uri)

    def unsubscribe(self, session: ServerSession, uri: str) -> None:
        with self._lock:
            entry = self._entries.get(session.id)
            if entry is not None:
                entry.uris.discard(uri)

    def subscriptions(self, session_id: str) -> frozenset[str]:
        with self._lock:
            entry = self._entries.get(session_id)
            return frozenset(entry.uris) if entry is not None else frozenset()

    # Delivery -----------------------------------------------------------

    def dispatch(self, event: dict[str, Any]) -> int:
        """Deliver one relayed event to the sessions it concerns; from any thread.

        ``{"event": "resource_updated", "uri": ...}`` goes to the sessions
        subscribed to that URI; ``{"event": "list_changed", "list": "tools",
        "user": pk-or-None}`` to every session, or to that user's. Returns the
        number of sessions notified. Unknown events are ignored.
        """
        kind = event.get("event")
        with self._lock:
            entries = list(self._entries.values())
        if kind == "resource_updated":
            uri = event.get("uri")
            if not isinstance(uri, str):
                return 0
            targets = [entry for entry in entries if uri in entry.uris]
            message = jsonrpc.notification("notifications/resources/updated", {"uri": uri})
        elif kind == "list_changed" and event.get("list") in LIST_NAMES:
            user = event.get("user")
            targets = [
                entry
                for entry in entries
                if user is None or str(getattr(entry.session.user, "pk", None)) == str(user)
            ]
            message = jsonrpc.notification(f"notifications/{event['list']}/list_changed")
        else:
            return 0
        for entry in targets:
            _post(entry, message)
        return len(targets)


def _post(entry: _Entry, message: dict[str, Any]) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is entry.loop:
        entry.session.send_soon(message)
    elif not entry.loop.is_closed():
        entry.loop.call_soon_threadsafe(entry.session.send_soon, message)


#: The sessions of this process.
live_sessions = LiveSessions()
