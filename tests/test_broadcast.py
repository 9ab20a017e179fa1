"""The per-process broadcast listener, against a fake cross-process channel layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import override_settings

from django_mcp import broadcast
from django_mcp.protocol.live import live_sessions


class FakeLayer:
    """Enough of a channel layer: one queue per channel, groups, a failure switch."""

    def __init__(self, group_expiry: float = 86400) -> None:
        self.group_expiry = group_expiry
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.groups: dict[str, set[str]] = {}
        self.group_adds = 0
        self.fail_next_receive = False

    async def new_channel(self) -> str:
        name = f"specific.{len(self.queues)}"
        self.queues[name] = asyncio.Queue()
        return name

    async def group_add(self, group: str, channel: str) -> None:
        self.group_adds += 1
        self.groups.setdefault(group, set()).add(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        for channel in self.groups.get(group, ()):
            self.queues[channel].put_nowait(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        if self.fail_next_receive:
            self.fail_next_receive = False
            raise ConnectionError("redis went away")
        return await self.queues[channel].get()


@pytest.fixture
async def layer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLayer]:
    fake = FakeLayer(group_expiry=0.2)
    monkeypatch.setattr(broadcast, "_layer", lambda: fake)
    yield fake
    await broadcast.stop_listeners()


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(live_sessions, "dispatch", lambda event: events.append(event) or 0)
    return events


async def until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


async def test_publish_goes_through_the_layer_to_the_listener(
    layer: FakeLayer, dispatched: list[dict[str, Any]]
) -> None:
    await broadcast.ensure_listener()
    assert layer.groups[broadcast.GROUP]
    await broadcast.apublish({"event": "resource_updated", "uri": "a://b"})
    broadcast.publish({"event": "resource_updated", "uri": "a://c"})
    await until(lambda: len(dispatched) == 2)
    assert [event["uri"] for event in dispatched] == ["a://b", "a://c"]


async def test_one_listener_per_loop(layer: FakeLayer) -> None:
    await broadcast.ensure_listener()
    await broadcast.ensure_listener()
    assert len(layer.queues) == 1


async def test_membership_is_renewed_before_it_expires(layer: FakeLayer) -> None:
    await broadcast.ensure_listener()
    first = layer.group_adds
    await until(lambda: layer.group_adds >= first + 3)


async def test_listener_survives_a_failing_layer_on_the_same_channel(
    layer: FakeLayer, dispatched: list[dict[str, Any]]
) -> None:
    await broadcast.ensure_listener()
    layer.fail_next_receive = True
    # Wake the blocked receive: the failure happens on the next call.
    await broadcast.apublish({"event": "resource_updated", "uri": "before"})
    await until(lambda: dispatched)
    await broadcast.apublish({"event": "resource_updated", "uri": "after"})
    await until(lambda: len(dispatched) == 2)
    assert len(layer.queues) == 1  # no new channel: queued messages are not lost


async def test_messages_of_other_types_are_ignored(
    layer: FakeLayer, dispatched: list[dict[str, Any]]
) -> None:
    await broadcast.ensure_listener()
    await layer.group_send(broadcast.GROUP, {"type": "other", "event": {"event": "x"}})
    await layer.group_send(broadcast.GROUP, {"type": broadcast.MESSAGE_TYPE, "event": "nope"})
    await broadcast.apublish({"event": "resource_updated", "uri": "ok"})
    await until(lambda: dispatched)
    assert dispatched == [{"event": "resource_updated", "uri": "ok"}]


def test_without_a_layer_events_are_delivered_in_process(
    dispatched: list[dict[str, Any]],
) -> None:
    with override_settings(CHANNEL_LAYERS={}):
        broadcast.publish({"event": "resource_updated", "uri": "local"})
    assert dispatched == [{"event": "resource_updated", "uri": "local"}]


def test_publish_failures_are_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(FakeLayer):
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            raise ConnectionError("down")

    monkeypatch.setattr(broadcast, "_layer", lambda: Broken())
    broadcast.publish({"event": "resource_updated", "uri": "x"})
    assert "Could not publish MCP event" in caplog.text
