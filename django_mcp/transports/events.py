"""Server-Sent Events framing."""

from __future__ import annotations

import json
from typing import Any

SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

HEARTBEAT = b": ping\n\n"


def event(name: str, data: str) -> bytes:
    """One SSE event. Multi-line data becomes several ``data:`` lines."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n".encode()


def message_event(message: Any) -> bytes:
    # ASCII escapes keep lone surrogates from a hostile client encodable.
    return event("message", json.dumps(message, separators=(",", ":")))
