"""CORS of the MCP routes: only for the origins of ALLOWED_ORIGINS."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_mcp.security.cors import CorsMiddleware

APP = "https://app.example.com"


def scope(method: str, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": "/mcp/sse",
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(name.encode(), value.encode()) for name, value in headers],
        "server": ("testserver", 80),
    }


async def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await CorsMiddleware(app)(scope, receive, send)
    return sent


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def headers(message: dict[str, Any]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in message["headers"]}


@override_settings(ALLOWED_HOSTS=["testserver"], DJANGO_MCP={"ALLOWED_ORIGINS": [APP]})
async def test_allowed_origin_gets_cors_headers() -> None:
    start, _body = await call(inner, scope("POST", ("origin", APP)))
    assert start["status"] == 202
    assert headers(start)["access-control-allow-origin"] == APP
    assert headers(start)["vary"] == "Origin"
    assert "access-control-allow-credentials" not in headers(start)


@override_settings(ALLOWED_HOSTS=["testserver"], DJANGO_MCP={"ALLOWED_ORIGINS": [APP]})
async def test_preflight_of_an_allowed_origin() -> None:
    start, _body = await call(
        inner,
        scope(
            "OPTIONS",
            ("origin", APP),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization, content-type"),
        ),
    )
    assert start["status"] == 204
    assert headers(start)["access-control-allow-origin"] == APP
    assert headers(start)["access-control-allow-headers"] == "authorization, content-type"
    assert "POST" in headers(start)["access-control-allow-methods"]


@pytest.mark.parametrize("allowed", [[], [APP]])
async def test_other_origins_get_no_cors(allowed: list[str]) -> None:
    with override_settings(ALLOWED_HOSTS=["testserver"], DJANGO_MCP={"ALLOWED_ORIGINS": allowed}):
        preflight = await call(inner, scope("OPTIONS", ("origin", "http://evil.example")))
        assert preflight[0]["status"] == 403
        assert "access-control-allow-origin" not in headers(preflight[0])
        # Non-preflight requests reach the app, whose Origin check answers them.
        start, _ = await call(inner, scope("POST", ("origin", "http://evil.example")))
        assert "access-control-allow-origin" not in headers(start)


@override_settings(ALLOWED_HOSTS=["testserver"], DJANGO_MCP={"ALLOWED_ORIGINS": [APP]})
async def test_an_existing_allow_origin_header_is_not_doubled() -> None:
    async def already(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"access-control-allow-origin", b"*")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    start, _ = await call(already, scope("GET", ("origin", APP)))
    assert [n for n, _ in start["headers"]].count(b"access-control-allow-origin") == 1


@override_settings(ALLOWED_HOSTS=["testserver"])
async def test_no_origin_passes_straight_through() -> None:
    start, _ = await call(inner, scope("POST"))
    assert start == {"type": "http.response.start", "status": 202, "headers": []}
