"""The POST fast path hands what it read to Django exactly as it came."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings

from django_mcp.transports.fastpath import MessagesEndpoint

LIMIT = 100


class RecordingApp:
    """A fallback that reads the request body the way Django's handler does."""

    def __init__(self) -> None:
        self.body = b""
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                return
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp/messages/",
        "query_string": b"session_id=nope",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", b"Bearer mcp_x"),
            (b"content-type", b"application/json"),
        ],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }


async def run(chunks: list[dict[str, Any]]) -> tuple[RecordingApp, list[dict[str, Any]]]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = RecordingApp()
    async with asyncio.timeout(5):
        await MessagesEndpoint(app)(scope(), queue.get, send)
    return app, sent


def body(data: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


@override_settings(DJANGO_MCP={"MAX_BODY_SIZE": LIMIT})
@pytest.mark.parametrize(
    "chunks",
    [
        # the limit is crossed by the last chunk: nothing more to read
        pytest.param([body(b"x" * 60, True), body(b"y" * 60, False)], id="last-chunk"),
        pytest.param([body(b"z" * 150, False)], id="single-chunk"),
        # crossed early: the rest is still waiting to be read
        pytest.param([body(b"x" * 120, True), body(b"y" * 30, False)], id="early"),
    ],
)
async def test_oversize_body_is_replayed_whole_without_hanging(
    chunks: list[dict[str, Any]],
) -> None:
    app, sent = await run(chunks)
    assert app.body == b"".join(chunk["body"] for chunk in chunks)
    assert sent[0]["status"] == 413


async def test_disconnect_is_replayed() -> None:
    app, _ = await run([body(b"{", True), {"type": "http.disconnect"}])
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert app.body == b"{"


@pytest.mark.django_db(transaction=True)
async def test_an_expired_binding_is_renewed_here_not_in_the_drf_view(
    django_user_model: Any,
) -> None:
    """After AUTH_RECHECK_INTERVAL the fast path authenticates the POST itself
    (the DRF view's Django request cycle leaked database connections under
    load) and renews the binding; a bad token still goes to the DRF view."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import AnonymousUser

    from django_mcp.models import ApiToken
    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession
    from django_mcp.transports.hub import fingerprint, hub, new_binding

    user = await django_user_model.objects.acreate(username="renew")
    _token, raw = await sync_to_async(ApiToken.create)(user)
    header = f"Bearer {raw}".encode()
    received: list[Any] = []

    class Session(ServerSession):
        def receive(self, payload: Any) -> None:
            received.append(payload)

    class Stream:
        async def heartbeat(self) -> None: ...

        async def terminate(self, reason: str) -> None: ...

    async def send_nothing(message: Any, **kwargs: Any) -> None: ...

    session = Session(
        session_id=hub.new_session_id(),
        user=AnonymousUser(),
        send=send_nothing,
        handlers=Handlers(),
        transport="sse",
    )
    binding = new_binding(user.pk, None, fingerprint(header))
    binding.valid_until = 0.0  # the recheck interval has run out
    hub.register(session, Stream(), binding)

    async def post(authorization: bytes) -> tuple[RecordingApp, list[dict[str, Any]]]:
        request = scope()
        request["query_string"] = f"session_id={session.id}".encode()
        request["headers"] = [
            (b"host", b"testserver"),
            (b"authorization", authorization),
            (b"content-type", b"application/json"),
        ]
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queue.put_nowait(body(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', False))
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        app = RecordingApp()
        async with asyncio.timeout(5):
            await MessagesEndpoint(app)(request, queue.get, send)
        return app, sent

    try:
        app, sent = await post(header)
        assert app.messages == []  # the DRF view was not involved
        assert sent[0]["status"] == 202
        assert received == [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]
        assert binding.admits(fingerprint(header))  # renewed

        refused, sent = await post(b"Bearer mcp_not-a-token")
        assert refused.messages  # handed to the DRF view for its 401
        assert len(received) == 1
    finally:
        hub.unregister(session.id)
