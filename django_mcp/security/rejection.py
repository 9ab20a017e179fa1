"""A refused HTTP request: its status, a clear message and any extra headers.

The checks of this package return a :class:`Rejection` (or ``None``), and each
transport turns it into its own response: a DRF/Django response in the
messages view, raw ASGI events in the stream consumer and the POST fast path.
Every body is JSON: ``{"error": "<message>"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import JsonResponse


@dataclass(frozen=True, slots=True)
class Rejection:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, Any]:
        return {"error": self.message}

    def asgi_headers(self) -> list[tuple[bytes, bytes]]:
        """Extra headers (not the content type) as ASGI header pairs."""
        return [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        ]

    def asgi_events(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``http.response.start`` and ``http.response.body`` events."""
        payload = json.dumps(self.body).encode()
        start = {
            "type": "http.response.start",
            "status": self.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *self.asgi_headers(),
            ],
        }
        return start, {"type": "http.response.body", "body": payload}

    async def send(self, send: Any) -> None:
        """Answer on a raw ASGI ``send`` callable."""
        start, body = self.asgi_events()
        await send(start)
        await send(body)

    def response(self) -> JsonResponse:
        """The same answer as a Django response (DRF views may return it too)."""
        response = JsonResponse(self.body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response
