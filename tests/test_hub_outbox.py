"""Messages to other workers leave in batches, one per destination and loop turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import get_channel_layer

from django_mcp.transports.hub import Outbox


async def test_messages_of_one_turn_travel_together_per_channel() -> None:
    layer = get_channel_layer()
    outbox = Outbox()
    first = await layer.new_channel()
    second = await layer.new_channel()
    sent = [outbox.send(first, {"type": "mcp.ack", "ref": n}) for n in range(3)]
    outbox.post(second, {"type": "mcp.ack", "ref": 99})
    await asyncio.gather(*sent)

    batch = await asyncio.wait_for(layer.receive(first), 1)
    assert batch == {
        "type": "mcp.batch",
        "messages": [{"type": "mcp.ack", "ref": n} for n in range(3)],
    }
    # A lone message goes as it is.
    assert await asyncio.wait_for(layer.receive(second), 1) == {"type": "mcp.ack", "ref": 99}


async def test_a_later_turn_is_a_later_batch() -> None:
    layer = get_channel_layer()
    outbox = Outbox()
    channel = await layer.new_channel()
    await outbox.send(channel, {"type": "mcp.ack", "ref": 1})
    await outbox.send(channel, {"type": "mcp.ack", "ref": 2})
    assert (await layer.receive(channel))["ref"] == 1
    assert (await layer.receive(channel))["ref"] == 2


class Unreachable:
    async def send(self, channel: str, message: dict[str, Any]) -> None:
        raise ConnectionError("redis is down")


async def test_a_failed_send_reaches_every_waiting_sender(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("django_mcp.transports.hub.get_channel_layer", lambda alias: Unreachable())
    outbox = Outbox()
    waiting = [outbox.send("worker.x", {"type": "mcp.deliver", "ref": n}) for n in range(2)]
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionError, ConnectionError]
    # Acknowledgements nobody waits on are logged instead.
    outbox.post("worker.y", {"type": "mcp.ack", "ref": 7})
    for _ in range(5):
        await asyncio.sleep(0)
    assert "Could not send 1 message(s) to worker.y" in caplog.text
