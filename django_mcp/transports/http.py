"""The HTTP side of the Streamable HTTP endpoint: reading a request, writing an answer.

Shared by the session transport (:mod:`.streamable`) and the stateless revision
(:mod:`.stateless`). Raw ASGI, ahead of Django's request cycle, like the POST
fast path of HTTP+SSE.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async

from django_mcp import auth
from django_mcp.conf import mcp_settings
from django_mcp.protocol.jsonrpc import InvalidRequest, JSONRPCError
from django_mcp.security import limits, screening
from django_mcp.security.admission import Admission, admit
from django_mcp.transports.exchange import (
    Answer,
    Item,
    ResponseWriter,
    asgi_headers,
    cancel,
    error_body,
    send_empty,
    send_json,
    watch_disconnect,
)
from django_mcp.transports.hub import fingerprint


class HttpRequest:
    """The parts of an ASGI request the endpoint reads."""

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method = str(scope["method"])
        self.header_list = [
            (bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
            for name, value in scope.get("headers", ())
        ]
        self.headers: dict[str, str] = {}
        for name, value in self.header_list:
            self.headers.setdefault(name, value)

    @property
    def credentials(self) -> str | None:
        """Fingerprint of the ``Authorization`` header, if any (what bindings compare)."""
        value = self.headers.get("authorization")
        return fingerprint(value) if value else None

    def accepts(self, media_type: str) -> bool:
        return accepts(self.headers.get("accept"), media_type)

    async def authenticate(self, *, new_session: bool = False) -> auth.AuthResult | None:
        """Authenticate with the DRF classes; answers ``401`` and returns None on failure.

        With ``new_session``, the same database hop also checks
        ``MAX_SESSIONS_PER_USER`` (answering ``429`` at the limit).
        """
        request = auth.request_from_scope(screening.without_query_credentials(self.scope))
        if new_session:
            admission: Admission[None] = await database_sync_to_async(admit)(request)
        else:
            admission = Admission(await database_sync_to_async(auth.authenticate)(request))
        refusal = admission.refusal
        if refusal is not None:
            await refusal.send(self.send)
            return None
        return admission.result

    async def read_body(self) -> bytes | None:
        """The request body; ``None`` (after answering 413) past ``MAX_BODY_SIZE``
        or when the client went away."""
        limit = mcp_settings.MAX_BODY_SIZE
        length = self.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await limits.body_too_large(limit).send(self.send)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await limits.body_too_large(limit).send(self.send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def error(
        self,
        status: int,
        error: JSONRPCError,
        headers: list[tuple[bytes, bytes]] | None = None,
        request_id: Any = None,
    ) -> None:
        await send_json(self.send, status, error_body(error, request_id), headers or [])


def accepts(header: str | None, media_type: str) -> bool:
    """Whether an ``Accept`` header admits ``media_type`` (wildcards count, ``q=0`` does not)."""
    if not header:
        return False
    kind = media_type.split("/")[0]
    for item in header.split(","):
        parts = [part.strip() for part in item.split(";")]
        if any(
            part.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for part in parts[1:]
        ):
            continue
        if parts[0].lower() in (media_type, f"{kind}/*", "*/*"):
            return True
    return False


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def session_not_found() -> Answer:
    return Answer(
        status=404,
        body=error_body(
            InvalidRequest("Session not found: it ended or never existed; send initialize again")
        ),
    )


async def write_answer(request: HttpRequest, answer: Answer) -> None:
    if answer.outbox is not None:
        outcome = await write_stream(request, answer, answer.outbox.queue)
        if outcome == "disconnected" and answer.on_disconnect is not None:
            answer.on_disconnect()
        return
    headers = asgi_headers(answer.headers)
    if answer.body is None:
        await send_empty(request.send, answer.status, headers)
    else:
        await send_json(request.send, answer.status, answer.body, headers)


async def write_stream(
    request: HttpRequest,
    answer: Answer,
    queue: asyncio.Queue[Item],
    *,
    liveness: float | None = None,
    status_of: Any = None,
) -> str:
    """Write the messages of ``queue`` as the response; returns the writer's outcome.

    An outbox that ends with nothing to say (the session was terminated while
    its requests ran) is answered ``404``: the session is gone.
    """
    disconnected = watch_disconnect(request.receive)
    writer = ResponseWriter(
        request.send,
        disconnected,
        headers=asgi_headers(answer.headers),
        batch=answer.batch,
        eager=answer.eager,
        liveness=liveness,
    )
    if status_of is not None:
        writer.status_of = status_of
    try:
        outcome = await writer.run(queue)
        if outcome == "empty":
            await write_answer(request, session_not_found())
        return outcome
    finally:
        cancel(disconnected)
