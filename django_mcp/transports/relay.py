"""Streamable HTTP across workers: a request for a session another worker holds.

A Streamable HTTP session lives with the worker that created it (its id ends
with that worker's id), but its POSTs, its ``GET`` stream and its ``DELETE``
may reach any worker. The receiving worker relays the request to the owner's
own channel on the channel layer and writes what comes back on its HTTP
response:

``mcp.call`` (receiver to owner)
    ``session_id``, ``call`` (method, raw body, ``MCP-Protocol-Version``), the
    caller's ``credentials`` fingerprint and/or authenticated ``user_id``,
    ``reply_to`` and ``ref``.
``mcp.reply`` (owner to receiver)
    First a ``head``: the outcome (``accepted``, ``unauthenticated`` or
    ``unknown``) and the answer's status, body and headers. It is the
    acknowledgement: without one within ``ROUTE_TIMEOUT`` the owner is taken
    for dead, as :meth:`Hub.deliver <django_mcp.transports.hub.Hub.deliver>`
    does, and the client gets ``404`` (so it starts a new session). Then, when
    the answer streams, one ``item`` per message, a ``beat`` whenever the owner
    has been silent for ``HEARTBEAT_INTERVAL``, and finally the ``end`` item.
``mcp.alive`` / ``mcp.detach`` (receiver to owner)
    While it streams, the receiver says it still holds the connection, and
    when the client goes away it says so; an owner that stops hearing from the
    receiver treats the client as gone.

Either side that hears nothing from the other for ``ROUTE_TIMEOUT`` plus two
heartbeats gives up on the exchange.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from channels.layers import get_channel_layer

from django_mcp.conf import mcp_settings
from django_mcp.transports.exchange import BEAT, Answer, Call, Item
from django_mcp.transports.hub import WORKER_ID, Outcome, hub, worker_channel, worker_of

logger = logging.getLogger("django_mcp")


@runtime_checkable
class Served(Protocol):
    """The stream of a session that answers Streamable HTTP calls."""

    async def serve(self, call: Call) -> Answer: ...


def liveness() -> float:
    """Seconds of silence after which the other worker of an exchange is given up on."""
    return mcp_settings.ROUTE_TIMEOUT + 2 * mcp_settings.HEARTBEAT_INTERVAL


@dataclass
class Remote:
    """A call relayed to the worker that holds the session: its head and its items."""

    worker: str
    ref: int
    head: asyncio.Future[dict[str, Any]]
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    _alive: asyncio.Task[None] | None = None

    @property
    def answer(self) -> Answer:
        head = self.head.result()
        return Answer(
            status=int(head.get("status") or 200),
            body=head.get("body"),
            headers=dict(head.get("headers") or {}),
            batch=bool(head.get("batch")),
            eager=bool(head.get("eager")),
        )

    @property
    def streams(self) -> bool:
        return bool(self.head.result().get("stream"))


@dataclass
class _Pump:
    answer: Answer
    task: asyncio.Task[None] | None = None
    alive_at: float = field(default_factory=time.monotonic)


class Relay:
    """Both ends of relayed calls in this worker."""

    def __init__(self) -> None:
        self._refs = itertools.count(1)
        self._remotes: dict[int, Remote] = {}
        self._pumps: dict[tuple[str, int], _Pump] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # The receiving worker ---------------------------------------------------

    @staticmethod
    def reachable(session_id: str) -> bool:
        """Whether ``session_id`` names another worker that a channel layer may reach."""
        worker = worker_of(session_id)
        return (
            worker is not None
            and worker != WORKER_ID
            and get_channel_layer(mcp_settings.CHANNEL_LAYER) is not None
        )

    async def call(
        self,
        session_id: str,
        call: Call,
        *,
        credentials: str | None,
        user_id: Any = None,
    ) -> Remote | Outcome:
        """Relay ``call`` to the session's worker; the :class:`Remote` once it accepted."""
        worker = worker_of(session_id)
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if worker is None or worker == WORKER_ID or layer is None or hub.silent(worker):
            return "unknown"
        try:
            await hub.listening()
        except TimeoutError:
            # This worker's own listener is not receiving: no reply could reach
            # it, and the owner is not to blame.
            logger.warning("This worker's channel-layer listener is not receiving")
            return "unknown"
        ref = next(self._refs)
        remote = Remote(worker, ref, asyncio.get_running_loop().create_future())
        self._remotes[ref] = remote
        try:
            await layer.send(
                worker_channel(worker),
                {
                    "type": "mcp.call",
                    "session_id": session_id,
                    "call": {
                        "method": call.method,
                        "body": call.body,
                        "protocol_version": call.protocol_version,
                    },
                    "credentials": credentials,
                    "user_id": user_id,
                    "reply_to": worker_channel(WORKER_ID),
                    "ref": ref,
                },
            )
            head = await asyncio.wait_for(asyncio.shield(remote.head), mcp_settings.ROUTE_TIMEOUT)
        except TimeoutError:
            hub.mark_silent(worker)
            self._remotes.pop(ref, None)
            return "unknown"
        except BaseException:
            self._remotes.pop(ref, None)
            raise
        outcome = head.get("outcome")
        if outcome != "accepted" or not head.get("stream"):
            self._remotes.pop(ref, None)
        if outcome == "accepted":
            if head.get("stream"):
                remote._alive = asyncio.ensure_future(self._keep_alive(remote))
            return remote
        return "unauthenticated" if outcome == "unauthenticated" else "unknown"

    async def _keep_alive(self, remote: Remote) -> None:
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        while layer is not None:
            await asyncio.sleep(mcp_settings.HEARTBEAT_INTERVAL)
            try:
                await layer.send(worker_channel(remote.worker), self._about(remote, "mcp.alive"))
            except Exception:
                logger.exception("Could not reach worker %s", remote.worker)

    async def detach(self, remote: Remote) -> None:
        """The client went away: tell the owner."""
        layer = get_channel_layer(mcp_settings.CHANNEL_LAYER)
        if layer is not None:
            await layer.send(worker_channel(remote.worker), self._about(remote, "mcp.detach"))

    def forget(self, remote: Remote) -> None:
        self._remotes.pop(remote.ref, None)
        if remote._alive is not None:
            remote._alive.cancel()

    @staticmethod
    def _about(remote: Remote, kind: str) -> dict[str, Any]:
        return {"type": kind, "ref": remote.ref, "reply_to": worker_channel(WORKER_ID)}

    async def _on_reply(self, layer: Any, message: dict[str, Any]) -> None:
        remote = self._remotes.get(message.get("ref", -1))
        if remote is None:
            return
        if "head" in message:
            if not remote.head.done():
                remote.head.set_result(dict(message["head"]))
        elif "item" in message:
            kind, payload = message["item"]
            remote.queue.put_nowait((str(kind), payload))

    # The owning worker ------------------------------------------------------

    async def _on_call(self, layer: Any, message: dict[str, Any]) -> None:
        # The listener must not wait for the session: it serves every worker.
        task = asyncio.ensure_future(self._serve(layer, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, layer: Any, message: dict[str, Any]) -> None:
        reply_to, ref = str(message["reply_to"]), message["ref"]

        async def reply(**fields: Any) -> None:
            await layer.send(reply_to, {"type": "mcp.reply", "ref": ref, **fields})

        session_id = str(message.get("session_id", ""))
        local = hub.get(session_id)
        if local is None or not isinstance(local.stream, Served):
            await reply(head={"outcome": "unknown"})
            return
        outcome = hub.admit(
            session_id, credentials=message.get("credentials"), user_id=message.get("user_id")
        )
        if outcome != "accepted":
            await reply(head={"outcome": outcome})
            return
        fields = message.get("call") or {}
        call = Call(
            method=str(fields.get("method")),
            body=fields.get("body"),
            protocol_version=fields.get("protocol_version"),
        )
        answer = await local.stream.serve(call)
        await reply(head={"outcome": "accepted", **answer.head()})
        if answer.outbox is None:
            return
        key = (reply_to, ref)
        pump = self._pumps[key] = _Pump(answer, asyncio.current_task())
        try:
            await self._pump(pump, reply)
        except asyncio.CancelledError:
            pass
        finally:
            self._pumps.pop(key, None)

    async def _pump(self, pump: _Pump, reply: Any) -> None:
        queue = pump.answer.outbox.queue  # type: ignore[union-attr]
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), mcp_settings.HEARTBEAT_INTERVAL)
            except TimeoutError:
                if time.monotonic() - pump.alive_at > liveness():
                    logger.warning("The worker relaying a Streamable HTTP request went silent")
                    self._disconnected(pump)
                    return
                await reply(item=list(BEAT))
                continue
            await reply(item=list(item))
            if item[0] == "end":
                return

    @staticmethod
    def _disconnected(pump: _Pump) -> None:
        if pump.answer.on_disconnect is not None:
            pump.answer.on_disconnect()

    async def _on_alive(self, layer: Any, message: dict[str, Any]) -> None:
        pump = self._pumps.get((str(message.get("reply_to")), message.get("ref", -1)))
        if pump is not None:
            pump.alive_at = time.monotonic()

    async def _on_detach(self, layer: Any, message: dict[str, Any]) -> None:
        pump = self._pumps.pop((str(message.get("reply_to")), message.get("ref", -1)), None)
        if pump is not None:
            self._disconnected(pump)
            if pump.task is not None:
                pump.task.cancel()


relay = Relay()
hub.extend("mcp.call", relay._on_call)
hub.extend("mcp.reply", relay._on_reply)
hub.extend("mcp.alive", relay._on_alive)
hub.extend("mcp.detach", relay._on_detach)
