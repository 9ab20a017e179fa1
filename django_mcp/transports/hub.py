"""Where a session lives, and how a message reaches it.

Every process has a worker id, and every session id ends with the id of the
worker that holds its stream (``<43 random characters>.<worker id>``). A
message for a session held here goes straight to its actor through the
process-local table: no channel layer, no database. A message for a session
held by another worker goes to that worker's own channel on the channel layer,
and that worker acknowledges it, so the sender can answer ``202`` or ``404``
truthfully even when the other worker has died.

The hub keeps no per-session state in the channel layer: one channel per worker,
plus one broadcast group whose membership the listener refreshes, so a stream
open for days keeps receiving whatever the layer's group expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import close_old_connections

from django_mcp.conf import mcp_settings
from django_mcp.protocol import jsonrpc

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

logger = logging.getLogger("django_mcp")

#: This process's worker id; the suffix of every session id it issues.
WORKER_ID = secrets.token_hex(6)
#: What a worker id looks like (``secrets.token_hex(6)``).
_WORKER_ID_RE = re.compile(r"[0-9a-f]{12}")
#: The channel-layer group every worker listens on for broadcasts.
BROADCAST_GROUP = "django_mcp.workers"

Outcome = Literal["accepted", "unknown", "unauthenticated"]

#: The transport whose sessions take messages through :meth:`Hub.deliver`.
SSE = "sse"

#: Seconds a worker that missed an acknowledgement is answered for without
#: asking it again: long enough for the DRF fallback of the same POST not to
#: wait a second time, short enough that a worker that was merely slow (a
#: loaded machine) is asked again at once.
SILENT_WORKER_MEMORY = 5.0


def worker_of(session_id: str) -> str | None:
    """The worker id a session id ends with, or ``None`` when it names no worker.

    Anything else (a client's guess, a truncated id) is unknown at once, rather
    than costing a forward that waits ``ROUTE_TIMEOUT`` for a worker that never was.
    """
    _, dot, worker = session_id.rpartition(".")
    return worker if dot and _WORKER_ID_RE.fullmatch(worker) else None


def worker_channel(worker_id: str) -> str:
    return f"django_mcp.worker.{worker_id}"


def fingerprint(credentials: bytes | str) -> str:
    """What a binding remembers of the credentials a stream was opened with."""
    if isinstance(credentials, str):
        credentials = credentials.encode("latin-1")
    return hashlib.sha256(credentials).hexdigest()


class Stream(Protocol):
    """What the hub needs from the transport that holds a session's stream."""

    async def heartbeat(self) -> None: ...

    async def terminate(self, reason: str) -> None: ...


@dataclass(slots=True)
class Binding:
    """The principal a session was opened by, checked on every POST without a query.

    ``fingerprint`` is the digest of the ``Authorization`` header the stream was
    opened with (``None`` for cookie sessions, whose POSTs always take the full
    DRF path with its CSRF check). The fast path trusts it until ``valid_until``
    (``time.monotonic()``); after that a POST is authenticated again by DRF.
    """

    user_id: Any
    token_id: Any = None
    fingerprint: str | None = None
    valid_until: float = 0.0
    #: When the credentials themselves expire (a token's ``expires_at``), on the
    #: ``time.monotonic()`` clock; a renewal never trusts them past it.
    expires: float = float("inf")

    def renew(self) -> None:
        self.valid_until = min(_recheck_deadline(), self.expires)

    def admits(self, credentials_fingerprint: str) -> bool:
        return (
            self.fingerprint is not None
            and secrets.compare_digest(self.fingerprint, credentials_fingerprint)
            and time.monotonic() < self.valid_until
        )


@dataclass(slots=True)
class LocalSession:
    session: ServerSession
    stream: Stream
    binding: Binding


class Outbox:
    """Channel-layer messages to other workers, sent together per event-loop turn.

    Under load a worker forwards many POSTs, and acknowledges many, in the same
    turn of the event loop. Each costs a channel-layer send: a publish to Redis
    and a msgpack encoding on both sides. Messages put here during one turn
    leave together, as one ``mcp.batch`` message per destination channel, as
    soon as the loop gets to it; a lone message is sent as it is.
    """

    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[dict[str, Any], asyncio.Future[None] | None]]] = {}
        self._flush: asyncio.Handle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, channel: str, message: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``message``; the future is done once its batch went out (or failed)."""
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._put(channel, message, sent)
        return sent

    def post(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` with nobody waiting on it (failures are logged)."""
        self._put(channel, message, None)

    def _put(
        self, channel: str, message: dict[str, Any], sent: asyncio.Future[None] | None
    ) -> None:
        self._pending.setdefault(channel, []).append((message, sent))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._start_sending)

    def _start_sending(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        for channel, items in pending.items():
            task = asyncio.ensure_future(self._send(channel, items))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(
        self, channel: str, items: list[tuple[dict[str, Any], asyncio.Future[None] | None]]
    ) -> None:
        messages = [message for message, _sent in items]
        batch = messages[0] if len(messages) == 1 else {"type": "mcp.batch", "messages": messages}
        error: BaseException | None = None
        try:
            layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
            await layer.send(channel, batch)
        except Exception as exc:
            error = exc
            if all(sent is None for _message, sent in items):
                logger.exception("Could not send %d message(s) to %s", len(items), channel)
        for _message, sent in items:
            if sent is not None and not sent.done():
                if error is None:
                    sent.set_result(None)
                else:
                    sent.set_exception(error)


class Hub:
    """The process-local table of open sessions, and the router to other workers."""

    def __init__(self) -> None:
        self._sessions: dict[str, LocalSession] = {}
        self._acks: dict[int, asyncio.Future[str]] = {}
        self._refs = itertools.count(1)
        self._listener: asyncio.Task[None] | None = None
        self._hears_itself = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._dead_workers: dict[str, float] = {}
        #: Handlers of further channel-layer message types, by type (see :meth:`extend`).
        self._extensions: dict[str, Callable[[Any, dict[str, Any]], Awaitable[None]]] = {}
        #: Told the token and user ids of every invalidation (see :meth:`on_invalidate`).
        self._invalidation_listeners: list[Callable[[set[Any], set[Any]], None]] = []
        #: Deliveries and acknowledgements to other workers, sent in batches.
        self.outbox = Outbox()

    # The local table ------------------------------------------------------

    @staticmethod
    def new_session_id() -> str:
        """A fresh id: 256 random bits, then this worker's id after a dot.

        The id never starts with ``-``, so it can be pasted after a
        command-line option (``mcp_sessions --terminate ID``) without being
        taken for one.
        """
        while True:
            token = secrets.token_urlsafe(32)
            if not token.startswith("-"):
                return f"{token}.{WORKER_ID}"

    def register(self, session: ServerSession, stream: Stream, binding: Binding) -> None:
        self._sessions[session.id] = LocalSession(session, stream, binding)
        self._ensure_tasks()

    def unregister(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def get(self, session_id: str) -> LocalSession | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def ids(self) -> list[str]:
        return list(self._sessions)

    # Delivery -------------------------------------------------------------

    async def deliver(
        self,
        session_id: str,
        payload: Any,
        body: bytes | None = None,
        *,
        credentials: str | None = None,
        user_id: Any = None,
    ) -> Outcome:
        """Hand a POSTed message to its session, wherever the session lives.

        The caller is identified either by the fingerprint of its credentials
        (the fast path: no authentication has run) or by an authenticated
        ``user_id`` (the DRF path). ``payload`` is the decoded JSON; ``body``
        the raw bytes, forwarded when the session lives in another worker.
        With both ``credentials`` and ``user_id`` the binding is renewed.
        """
        local = self._sessions.get(session_id)
        if local is not None:
            if local.session.transport != SSE:
                # A Streamable HTTP session answers on each POST's own response;
                # a message dropped into it here would have its reply lost.
                return "unknown"
            outcome = self._admit(local, credentials, user_id)
            if outcome == "accepted":
                local.session.receive(payload)
            return outcome
        worker = worker_of(session_id)
        if worker is None or worker == WORKER_ID:
            return "unknown"
        return await self._forward(worker, session_id, body, credentials, user_id)

    def admit(self, session_id: str, *, credentials: str | None, user_id: Any = None) -> Outcome:
        """Whether a caller may use a session held here, as :meth:`deliver` decides it."""
        local = self._sessions.get(session_id)
        if local is None:
            return "unknown"
        return self._admit(local, credentials, user_id)

    def _admit(self, local: LocalSession, credentials: str | None, user_id: Any) -> Outcome:
        binding = local.binding
        if user_id is not None:
            if user_id != binding.user_id:
                return "unknown"
            if credentials is not None and credentials == binding.fingerprint:
                binding.renew()
            return "accepted"
        if credentials is not None and binding.admits(credentials):
            return "accepted"
        return "unauthenticated"

    async def _forward(
        self,
        worker: str,
        session_id: str,
        body: bytes | None,
        credentials: str | None,
        user_id: Any,
    ) -> Outcome:
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if layer is None or body is None:
            return "unknown"
        if self.silent(worker):
            return "unknown"
        ref = next(self._refs)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._acks[ref] = future
        try:
            await self.listening()
        except TimeoutError:
            # Our own listener is not up: no answer could reach us. The other
            # worker is not to blame, so it is not marked silent.
            self._acks.pop(ref, None)
            logger.warning("This worker's channel-layer listener is not receiving")
            return "unknown"
        try:
            await self.outbox.send(
                worker_channel(worker),
                {
                    "type": "mcp.deliver",
                    "session_id": session_id,
                    "body": body.decode("utf-8"),
                    "credentials": credentials,
                    "user_id": user_id,
                    "reply_to": worker_channel(WORKER_ID),
                    "ref": ref,
                },
            )
            outcome = await asyncio.wait_for(future, mcp_settings.ROUTE_TIMEOUT)
        except TimeoutError:
            self.mark_silent(worker)
            return "unknown"
        finally:
            self._acks.pop(ref, None)
        return outcome if outcome in ("accepted", "unauthenticated") else "unknown"  # type: ignore[return-value]

    def silent(self, worker: str) -> bool:
        """Whether ``worker`` recently missed an acknowledgement (``SILENT_WORKER_MEMORY``)."""
        dead_since = self._dead_workers.get(worker)
        return dead_since is not None and time.monotonic() - dead_since < SILENT_WORKER_MEMORY

    def mark_silent(self, worker: str) -> None:
        logger.warning("Worker %s did not answer; treating its sessions as gone", worker)
        self._dead_workers[worker] = time.monotonic()

    def extend(self, kind: str, handler: Callable[[Any, dict[str, Any]], Awaitable[None]]) -> None:
        """Have this worker's listener pass channel-layer messages of type ``kind``
        to ``handler(layer, message)``, which must return quickly."""
        self._extensions[kind] = handler

    def on_invalidate(self, listener: Callable[[set[Any], set[Any]], None]) -> None:
        """Call ``listener(token_ids, user_ids)`` whenever credentials are invalidated
        (revocation, deactivation), for caches of principals outside sessions."""
        self._invalidation_listeners.append(listener)

    def listen(self) -> None:
        """Make sure this worker's listener runs."""
        self._ensure_tasks()

    async def reachable(self) -> None:
        """Return once other workers can reach this one (no-op without a layer).

        Call it before handing a client a session id it may POST to through
        another worker: a message sent to this worker's channel before its
        subscription is complete would be lost, and the client told 404.
        Waits at most ``ROUTE_TIMEOUT``; a broken layer is logged, not raised,
        since the stream still works through this worker.
        """
        if get_channel_layer(mcp_settings.CHANNEL_LAYER) is None:
            return
        try:
            await self.listening()
        except TimeoutError:
            logger.warning("This worker's channel-layer listener is not receiving")

    async def listening(self) -> None:
        """Return once this worker's listener hears its own channel.

        Call it before sending anything whose answer comes back to this worker:
        with the pub/sub layer, a reply published before the listener has
        subscribed is lost, and the sender would wait ``ROUTE_TIMEOUT`` for it.
        """
        self._ensure_tasks()
        await asyncio.wait_for(self._hears_itself.wait(), mcp_settings.ROUTE_TIMEOUT)

    # Control --------------------------------------------------------------

    async def terminate(self, session_id: str, reason: str) -> bool:
        """Close a session's stream on whichever worker holds it."""
        local = self._sessions.get(session_id)
        if local is not None:
            await local.stream.terminate(reason)
            return True
        worker = worker_of(session_id)
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if layer is None or worker is None or worker == WORKER_ID:
            return False
        await layer.send(
            worker_channel(worker),
            {"type": "mcp.terminate", "session_id": session_id, "reason": reason},
        )
        return True

    async def invalidate(
        self, *, token_ids: list[Any] | None = None, user_ids: list[Any] | None = None
    ) -> None:
        """Forget bindings of revoked tokens or deactivated users, on every worker,
        and close their streams."""
        message = {"type": "mcp.invalidate", "token_ids": token_ids, "user_ids": user_ids}
        await self._invalidate_local(message)
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if layer is not None and hasattr(layer, "group_send"):
            await layer.group_send(BROADCAST_GROUP, message)

    async def _invalidate_local(self, message: dict[str, Any]) -> None:
        tokens = set(message.get("token_ids") or ())
        users = set(message.get("user_ids") or ())
        for listener in self._invalidation_listeners:
            listener(tokens, users)
        for local in list(self._sessions.values()):
            binding = local.binding
            if (binding.token_id is not None and binding.token_id in tokens) or (
                binding.user_id in users
            ):
                binding.fingerprint = None
                await local.stream.terminate("terminated")

    # The worker's listener ---------------------------------------------------

    def _ensure_tasks(self) -> None:
        loop = asyncio.get_running_loop()
        if _stopped(self._heartbeat, loop):
            self._heartbeat = asyncio.ensure_future(self._beat())
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if _stopped(self._listener, loop) and layer is not None:
            self._hears_itself = asyncio.Event()
            self._listener = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        assert layer is not None
        channel = worker_channel(WORKER_ID)
        refresh = asyncio.ensure_future(self._refresh_membership(layer, channel))
        hello = asyncio.ensure_future(self._say_hello(layer, channel))
        try:
            while True:
                try:
                    message = await layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("Channel layer receive failed; retrying")
                    await asyncio.sleep(1)
                    continue
                try:
                    await self._handle(layer, message)
                except Exception:
                    logger.exception("Could not handle %r", message.get("type"))
        finally:
            refresh.cancel()
            hello.cancel()

    async def _say_hello(self, layer: Any, channel: str) -> None:
        # Subscribing happens inside the layer's first receive(); only a message
        # that comes back proves it is done. Repeat, as pub/sub drops early ones.
        while not self._hears_itself.is_set():
            with contextlib.suppress(Exception):
                await layer.send(channel, {"type": "mcp.hello"})
            await asyncio.sleep(0.05)

    async def _refresh_membership(self, layer: Any, channel: str) -> None:
        if not hasattr(layer, "group_add"):
            return
        # Layers expire group memberships (a day by default); re-adding well
        # within the expiry keeps broadcasts flowing to a worker that runs for weeks.
        expiry = float(getattr(layer, "group_expiry", 86400) or 86400)
        while True:
            try:
                await layer.group_add(BROADCAST_GROUP, channel)
            except Exception:
                logger.exception("Could not join the %s group", BROADCAST_GROUP)
            await asyncio.sleep(max(expiry / 4, 0.25))

    async def _handle(self, layer: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "mcp.hello":
            self._hears_itself.set()
        elif kind == "mcp.batch":
            for item in message.get("messages") or ():
                if isinstance(item, dict) and item.get("type") != "mcp.batch":
                    await self._handle(layer, item)
        elif kind == "mcp.deliver":
            outcome = await self._accept_forwarded(message)
            self.outbox.post(
                message["reply_to"], {"type": "mcp.ack", "ref": message["ref"], "outcome": outcome}
            )
        elif kind == "mcp.ack":
            future = self._acks.get(message.get("ref", -1))
            if future is not None and not future.done():
                future.set_result(str(message.get("outcome")))
        elif kind == "mcp.terminate":
            local = self._sessions.get(message.get("session_id", ""))
            if local is not None:
                await local.stream.terminate(str(message.get("reason") or "terminated"))
        elif kind == "mcp.invalidate":
            await self._invalidate_local(message)
        elif kind in self._extensions:
            await self._extensions[kind](layer, message)

    async def _accept_forwarded(self, message: dict[str, Any]) -> str:
        local = self._sessions.get(message.get("session_id", ""))
        if local is None or local.session.transport != SSE:
            return "unknown"
        outcome = self._admit(local, message.get("credentials"), message.get("user_id"))
        if outcome != "accepted":
            return outcome
        try:
            payload = jsonrpc.loads(message["body"], mcp_settings.MAX_JSON_DEPTH)
        except jsonrpc.ParseError as error:
            await local.session.send(jsonrpc.error_response(None, error))
            return "accepted"
        local.session.receive(payload)
        return "accepted"

    # Heartbeat ------------------------------------------------------------

    async def _beat(self) -> None:
        # One ticker for the whole process instead of one task per stream.
        while self._sessions:
            await asyncio.sleep(mcp_settings.HEARTBEAT_INTERVAL)
            for local in list(self._sessions.values()):
                with contextlib.suppress(Exception):
                    await local.stream.heartbeat()
            # Async tools reach the ORM through Django's shared sync thread,
            # where no request cycle closes connections: do it here, so idle
            # streams never pin a stale database connection.
            with contextlib.suppress(Exception):
                await database_sync_to_async(close_old_connections)()


def _stopped(task: asyncio.Task[Any] | None, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``task`` must be started (again) on ``loop``."""
    return task is None or task.done() or task.get_loop() is not loop


def _recheck_deadline() -> float:
    return time.monotonic() + mcp_settings.AUTH_RECHECK_INTERVAL


def new_binding(user_id: Any, token: Any, credentials: str | None) -> Binding:
    """The binding of a stream opened now by ``user_id`` with these credentials."""
    binding = Binding(user_id=user_id, token_id=getattr(token, "pk", None), fingerprint=credentials)
    expires_at = getattr(token, "expires_at", None)
    if expires_at is not None:
        from django.utils import timezone

        binding.expires = time.monotonic() + (expires_at - timezone.now()).total_seconds()
    binding.renew()
    return binding


hub = Hub()
