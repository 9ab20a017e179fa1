"""Routing of POSTed messages by session id, within one process."""

from __future__ import annotations

import asyncio

import pytest

from django_mcp.transports.hub import WORKER_ID, hub, worker_of


@pytest.mark.parametrize(
    ("session_id", "worker"),
    [
        (f"{'a' * 43}.{WORKER_ID}", WORKER_ID),
        (f"{'a' * 43}.0123456789ab", "0123456789ab"),
        ("nope", None),
        ("a" * 43, None),
        ("abc.", None),
        ("abc.not-a-worker", None),
        ("abc.0123456789AB", None),
        ("abc.0123456789abc", None),
        ("", None),
    ],
)
def test_worker_of(session_id: str, worker: str | None) -> None:
    assert worker_of(session_id) == worker


def test_session_ids_never_look_like_command_line_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One token in 64 starts with "-"; `mcp_sessions --terminate -abc...` would
    # then read the id as an option. CI once drew such an id.
    drawn = iter(["-" + "a" * 42, "b" * 43])
    monkeypatch.setattr("django_mcp.transports.hub.secrets.token_urlsafe", lambda n: next(drawn))
    session_id = hub.new_session_id()
    assert session_id == f"{'b' * 43}.{WORKER_ID}"
    assert worker_of(session_id) == WORKER_ID


@pytest.mark.parametrize("session_id", ["nope", "x" * 43, "abc.zzz", f"abc.{WORKER_ID}"])
async def test_unknown_session_ids_are_unknown_at_once(session_id: str) -> None:
    # No forward over the channel layer, so no ROUTE_TIMEOUT wait.
    async with asyncio.timeout(0.5):
        outcome = await hub.deliver(session_id, {"jsonrpc": "2.0", "method": "x"}, b"{}", user_id=1)
    assert outcome == "unknown"
    async with asyncio.timeout(0.5):
        assert await hub.terminate(session_id, "terminated") is False


def test_renewal_never_trusts_credentials_past_their_expiry() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from django.utils import timezone

    from django_mcp.transports.hub import new_binding

    token = SimpleNamespace(pk=7, expires_at=timezone.now() + timedelta(seconds=5))
    binding = new_binding(1, token, "fp")
    assert binding.admits("fp")
    assert not binding.admits("other")
    lifetime = binding.valid_until - binding.expires
    assert lifetime <= 0  # capped by the token's expiry, not the 60 s recheck
    binding.expires -= 10  # the token has now expired
    binding.renew()
    assert not binding.admits("fp")


def test_bindings_without_expiry_last_the_recheck_interval() -> None:
    import time

    from django_mcp.conf import mcp_settings
    from django_mcp.transports.hub import new_binding

    binding = new_binding(1, None, "fp")
    remaining = binding.valid_until - time.monotonic()
    assert 0 < remaining <= mcp_settings.AUTH_RECHECK_INTERVAL


async def test_sse_posts_never_reach_a_streamable_http_session() -> None:
    from django.contrib.auth.models import AnonymousUser

    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession
    from django_mcp.transports.hub import fingerprint, new_binding

    sent: list[object] = []

    async def send(message: object, **kwargs: object) -> None:
        sent.append(message)

    class Stream:
        async def heartbeat(self) -> None: ...

        async def terminate(self, reason: str) -> None: ...

    outcomes = {}
    for transport in ("sse", "streamable-http"):
        session = ServerSession(
            session_id=hub.new_session_id(),
            user=AnonymousUser(),
            send=send,
            handlers=Handlers(),
            transport=transport,
        )
        hub.register(session, Stream(), new_binding(None, None, fingerprint("Bearer x")))
        try:
            outcomes[transport] = await hub.deliver(
                session.id,
                {"jsonrpc": "2.0", "method": "x"},
                b"{}",
                credentials=fingerprint("Bearer x"),
            )
        finally:
            hub.unregister(session.id)
    assert outcomes == {"sse": "accepted", "streamable-http": "unknown"}


async def test_a_worker_is_reachable_before_it_hands_out_session_ids() -> None:
    # With a layer, reachable() returns only once the worker's listener has
    # heard its own hello, so a POST forwarded from another worker is not lost.
    await hub.reachable()
    assert hub._hears_itself.is_set()
