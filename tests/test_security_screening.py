"""Host and Origin checks (DNS rebinding) and query-string credentials, on scopes and requests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory, override_settings

from django_mcp.security import screening


def scope(*headers: tuple[str, str], query: bytes = b"", scheme: str = "http") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "path": "/mcp/sse",
        "query_string": query,
        "headers": [(name.encode(), value.encode("latin-1")) for name, value in headers],
        "server": ("127.0.0.1", 8000),
    }


@override_settings(ALLOWED_HOSTS=["mcp.example.com", ".internal.example", "127.0.0.1"])
@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("mcp.example.com", True),
        ("MCP.Example.COM:8443", True),
        ("mcp.example.com.", True),
        ("api.internal.example", True),
        ("127.0.0.1:8000", True),
        ("evil.example", False),
        ("mcp.example.com.evil.example", False),
        ("localhost", False),
        ("mcp.example.com,evil.example", False),
        ("", False),
        ("bad host", False),
    ],
)
def test_host_is_checked_against_allowed_hosts(host: str, allowed: bool) -> None:
    rejection = screening.screen_scope(scope(("host", host)))
    if allowed:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.status == 421
        assert "ALLOWED_HOSTS" in rejection.message
        assert rejection.body == {"error": rejection.message}


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_without_host_header_the_server_name_is_used() -> None:
    rejection = screening.screen_scope(scope())
    assert rejection is not None and rejection.status == 421  # 127.0.0.1 is not allowed


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
def test_debug_with_empty_allowed_hosts_allows_localhost_like_django() -> None:
    assert screening.screen_scope(scope(("host", "localhost:8000"))) is None
    assert screening.screen_scope(scope(("host", "evil.example"))) is not None


@override_settings(ALLOWED_HOSTS=["mcp.example.com"], USE_X_FORWARDED_HOST=True)
def test_forwarded_host_when_django_is_told_to_trust_it() -> None:
    good = scope(("host", "10.0.0.5"), ("x-forwarded-host", "mcp.example.com"))
    assert screening.screen_scope(good) is None
    bad = scope(("host", "mcp.example.com"), ("x-forwarded-host", "evil.example"))
    assert screening.screen_scope(bad) is not None


@override_settings(ALLOWED_HOSTS=["mcp.example.com"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://mcp.example.com", True),
        ("http://MCP.example.com:80", True),
        ("https://mcp.example.com", False),  # another scheme is another origin
        ("http://mcp.example.com:8080", False),
        ("http://evil.example", False),
        ("null", False),
        ("not a url", False),
        ("http://mcp.example.com/path", False),
        ("http://user@mcp.example.com", False),
    ],
)
def test_origin_must_be_same_origin_by_default(origin: str, allowed: bool) -> None:
    rejection = screening.screen_scope(scope(("host", "mcp.example.com"), ("origin", origin)))
    if allowed:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.status == 403
        assert "ALLOWED_ORIGINS" in rejection.message


def test_no_origin_header_is_allowed() -> None:
    # MCP clients outside a browser send no Origin.
    assert screening.screen_scope(scope(("host", "testserver"))) is None


@override_settings(
    ALLOWED_HOSTS=["mcp.example.com"],
    DJANGO_MCP={"ALLOWED_ORIGINS": ["https://app.example.com", "https://*.tools.example", "null"]},
)
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://app.example.com:443", True),
        ("http://app.example.com", False),
        ("https://a.tools.example", True),
        ("https://a.b.tools.example", True),
        ("https://tools.example", False),
        ("https://eviltools.example", False),
        ("null", True),
        ("http://mcp.example.com", True),
    ],
)
def test_allowed_origins(origin: str, allowed: bool) -> None:
    rejection = screening.screen_scope(scope(("host", "mcp.example.com"), ("origin", origin)))
    assert (rejection is None) is allowed


@override_settings(ALLOWED_HOSTS=["mcp.example.com"], DJANGO_MCP={"ALLOWED_ORIGINS": ["*"]})
def test_star_allows_any_origin() -> None:
    assert (
        screening.screen_scope(scope(("host", "mcp.example.com"), ("origin", "http://x.y"))) is None
    )


@override_settings(
    ALLOWED_HOSTS=["mcp.example.com"],
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_same_origin_behind_a_tls_proxy() -> None:
    headers = (("host", "mcp.example.com"), ("origin", "https://mcp.example.com"))
    assert screening.screen_scope(scope(*headers)) is not None  # the proxy did not say https
    assert screening.screen_scope(scope(*headers, ("x-forwarded-proto", "https"))) is None


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_django_request_gets_the_same_answers() -> None:
    factory = RequestFactory()
    assert screening.screen_request(factory.post("/mcp/messages/")) is None
    bad_host = screening.screen_request(factory.post("/mcp/messages/", HTTP_HOST="evil.example"))
    assert bad_host is not None and bad_host.status == 421
    bad_origin = screening.screen_request(
        factory.post("/mcp/messages/", HTTP_ORIGIN="http://evil.example")
    )
    assert bad_origin is not None and bad_origin.status == 403
    same = factory.post("/mcp/messages/", HTTP_ORIGIN="http://testserver")
    assert screening.screen_request(same) is None


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_query_string_credentials_are_dropped() -> None:
    request = RequestFactory().post("/mcp/messages/?session_id=abc&access_token=s3cret&token=x")
    assert request.GET["access_token"] == "s3cret"
    assert screening.screen_request(request) is None
    assert request.META["QUERY_STRING"] == "session_id=abc"
    assert "access_token" not in request.GET and "token" not in request.GET
    assert request.GET["session_id"] == "abc"


def test_scope_copy_without_query_credentials() -> None:
    original = scope(query=b"access_token=s3cret&x=1")
    cleaned = screening.without_query_credentials(original)
    assert cleaned["query_string"] == b"x=1"
    assert original["query_string"] == b"access_token=s3cret&x=1"
    untouched = screening.without_query_credentials(scope(query=b"x=1"))
    assert untouched["query_string"] == b"x=1"
