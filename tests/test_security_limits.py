"""Limits: body size, open sessions per user, messages per minute (cache-backed)."""

from __future__ import annotations

import io
import json
from typing import Any
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.handlers.asgi import ASGIRequest
from django.test import Client, override_settings
from django.utils import timezone

from django_mcp.models import ApiToken, McpSession
from django_mcp.security import limits


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    caches["default"].clear()


def asgi_request(body: bytes, *, content_length: bool = True) -> ASGIRequest:
    headers = [(b"content-type", b"application/json")]
    if content_length:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp/messages/",
        "query_string": b"",
        "headers": headers,
        "server": ("testserver", 80),
    }
    return ASGIRequest(scope, io.BytesIO(body))


# Body size ---------------------------------------------------------------------------------


def test_body_within_the_limit_is_read() -> None:
    assert limits.read_body(asgi_request(b'{"a": 1}'), limit=8) == b'{"a": 1}'


def test_body_over_the_limit_by_its_content_length() -> None:
    assert limits.read_body(asgi_request(b"x" * 9), limit=8) is None


def test_chunked_body_over_the_limit_without_content_length() -> None:
    assert limits.read_body(asgi_request(b"x" * 9, content_length=False), limit=8) is None
    assert limits.read_body(asgi_request(b"x" * 8, content_length=False), limit=8) == b"x" * 8


def test_lying_content_length_cannot_smuggle_a_larger_body() -> None:
    request = asgi_request(b"x" * 100, content_length=False)
    request.META["CONTENT_LENGTH"] = "4"
    assert limits.read_body(request, limit=8) is None


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_django_form_upload_limit_does_not_cut_in_below_the_mcp_limit() -> None:
    body = b" " * 5000
    assert limits.read_body(asgi_request(body), limit=10_000) == body


# Messages per minute -----------------------------------------------------------------------


@override_settings(DJANGO_MCP={"RATE_LIMIT": 3})
def test_rate_limit_with_retry_after() -> None:
    now = 1_000_000 * 60 + 15.2  # 15.2 seconds into a minute
    assert all(limits.throttle("u:1", now=now) is None for _ in range(3))
    rejection = limits.throttle("u:1", now=now)
    assert rejection is not None
    assert rejection.status == 429
    assert rejection.headers == {"Retry-After": "45"}
    assert "3 messages per minute" in rejection.message
    assert "45 seconds" in rejection.message
    # Another caller has a budget of its own; the next minute starts afresh.
    assert limits.throttle("u:2", now=now) is None
    assert limits.throttle("u:1", now=now + 45) is None


@override_settings(DJANGO_MCP={"RATE_LIMIT": 5})
def test_a_batch_costs_one_per_message() -> None:
    now = 600.0
    assert limits.cost([{}, {}, {}, {}]) == 4
    assert limits.cost({}) == 1
    assert limits.cost([]) == 1
    assert limits.throttle("c:x", limits.cost([{}] * 5), now=now) is None
    assert limits.throttle("c:x", 1, now=now) is not None


@override_settings(DJANGO_MCP={"RATE_LIMIT": None})
def test_no_rate_limit() -> None:
    assert all(limits.throttle("u:1", 1000) is None for _ in range(5))


@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "d"},
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "s"},
    },
    DJANGO_MCP={"RATE_LIMIT": 10, "RATE_LIMIT_CACHE": "shared"},
)
def test_counters_live_in_the_configured_cache() -> None:
    limits.throttle("u:7", 2, now=120.0)
    key = f"{limits.KEY_PREFIX}:u:7:2"
    assert caches["shared"].get(key) == 2
    assert caches["default"].get(key) is None


@override_settings(DJANGO_MCP={"RATE_LIMIT": 200_000})
def test_a_large_budget_is_leased_so_most_messages_skip_the_cache() -> None:
    now = 60.0 * 7
    key = f"{limits.KEY_PREFIX}:c:lease:7"
    assert limits.lease_size(200_000) == 100
    assert limits.throttle("c:lease", now=now) is None
    assert caches["default"].get(key) == 100  # one increment took 100 messages
    assert all(limits.throttle("c:lease", now=now) is None for _ in range(99))
    assert caches["default"].get(key) == 100  # ... spent here without a cache call
    assert limits.throttle("c:lease", now=now) is None
    assert caches["default"].get(key) == 200


@override_settings(DJANGO_MCP={"RATE_LIMIT": 100_000})
def test_a_leased_budget_still_ends_exactly_at_the_limit() -> None:
    now = 60.0 * 9
    # Other workers already spent all but 50 messages of this minute.
    caches["default"].set(f"{limits.KEY_PREFIX}:c:busy:9", 99_950, 120)
    allowed = 0
    while limits.throttle("c:busy", now=now) is None:
        allowed += 1
        assert allowed <= 50
    assert allowed == 50


def test_small_budgets_are_not_leased() -> None:
    assert limits.lease_size(1000) == 1
    assert limits.lease_size(5) == 1


class BrokenCache(LocMemCache):
    def incr(self, *args: Any, **kwargs: Any) -> int:
        raise ConnectionError("cache down")


@override_settings(
    CACHES={"default": {"BACKEND": "tests.test_security_limits.BrokenCache"}},
    DJANGO_MCP={"RATE_LIMIT": 1},
)
def test_a_cache_outage_lets_messages_through(caplog: pytest.LogCaptureFixture) -> None:
    assert limits.throttle("u:1") is None
    assert "Rate-limit cache" in caplog.text


def test_rate_keys() -> None:
    from django.test import RequestFactory

    from django_mcp.transports.hub import fingerprint

    factory = RequestFactory()
    with_header = factory.post("/", HTTP_AUTHORIZATION="Bearer abc")
    assert limits.rate_key(with_header, None) == limits.credential_key(fingerprint("Bearer abc"))
    user = type("U", (), {"pk": 9})()
    assert limits.rate_key(factory.post("/"), user) == "u:9"


# Open sessions per user --------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(DJANGO_MCP={"MAX_SESSIONS_PER_USER": 2})
def test_open_sessions_per_user(django_user_model: Any) -> None:
    ada = django_user_model.objects.create_user("ada")
    bob = django_user_model.objects.create_user("bob")
    McpSession.objects.create(id="s1", user=ada)
    assert limits.check_open_sessions(ada) is None
    McpSession.objects.create(id="s2", user=ada)
    McpSession.objects.create(id="s3", user=ada, closed_at=timezone.now())
    rejection = limits.check_open_sessions(ada)
    assert rejection is not None
    assert rejection.status == 429
    assert "already has 2" in rejection.message and "limit is 2" in rejection.message
    assert limits.check_open_sessions(bob) is None


@pytest.mark.django_db
@override_settings(DJANGO_MCP={"MAX_SESSIONS_PER_USER": None})
def test_no_session_limit(django_user_model: Any) -> None:
    ada = django_user_model.objects.create_user("ada")
    McpSession.objects.bulk_create([McpSession(id=f"s{i}", user=ada) for i in range(5)])
    assert limits.check_open_sessions(ada) is None


# Through the DRF view ----------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(DJANGO_MCP={"RATE_LIMIT": 2, "MAX_BODY_SIZE": 64})
def test_messages_view_applies_the_limits(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("ada")
    _token, raw = ApiToken.create(user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = "/mcp/messages/?session_id=nope"
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})

    big = client.post(url, data=" " * 65, content_type="application/json")
    assert big.status_code == 413
    assert big.json() == {"error": "Request body exceeds 64 bytes."}

    # A fixed clock, so the three POSTs cannot straddle two minutes.
    with mock.patch("django_mcp.security.limits.time.time", return_value=6000.5):
        statuses = [client.post(url, data=ping, content_type="application/json") for _ in "ab"]
        assert [response.status_code for response in statuses] == [404, 404]
        limited = client.post(url, data=ping, content_type="application/json")
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert limited.json()["error"].startswith("Rate limit exceeded")


async def test_the_rate_limit_cache_is_one_object_per_process() -> None:
    # caches[alias] is per asyncio task: with Redis that meant a new pool and a
    # new connection for every POST on the event loop.
    import asyncio

    from django_mcp.security.limits import shared_cache

    seen = await asyncio.gather(*(asyncio.to_thread(shared_cache, "default") for _ in range(3)))
    seen += await asyncio.gather(*(asyncio.sleep(0, shared_cache("default")) for _ in range(3)))
    assert len({id(cache) for cache in seen}) == 1
