"""Security against a real daphne serving the example project (docs/security.md).

One server with the security settings under test: an Origin allow-list, an OAuth
authorization server, a small body limit, two streams per user, 20 messages per
minute, and a custom DRF authentication class beside the token class. Every test
uses its own users and tokens, so the limits of one never touch another.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from .conftest import DaphneLauncher, DaphneServer, last_line
from .helpers import WAIT, SseStream, bearer

pytestmark = pytest.mark.e2e

HEADER_SECRET = "e2e-header-secret-0123456789"
RATE_LIMIT = 20
SESSIONS_PER_USER = 2
BODY_LIMIT = 4096
AUTH_SERVER = "https://auth.example.com"
APP_ORIGIN = "https://app.example.com"

SETTINGS = {
    "ALLOWED_ORIGINS": [APP_ORIGIN],
    "AUTHORIZATION_SERVERS": [AUTH_SERVER],
    "SCOPES_SUPPORTED": ["mcp"],
    "MAX_BODY_SIZE": BODY_LIMIT,
    "AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "django_mcp.auth.TokenAuthentication",
        "tests.e2e.header_auth.HeaderAuthentication",
    ],
}

# Users and tokens, made in one ``manage.py shell`` run; printed as JSON.
FIXTURES = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_mcp.models import ApiToken

users = get_user_model().objects
made = {}
def token(username, **fields):
    user, _ = users.get_or_create(username=username)
    return ApiToken.create(user, name="e2e", **fields)[1]

for name in ("alice", "bob", "carol", "dave", "erin", "grace", "heidi"):
    made[name] = token(name)
made["expired"] = token("alice", expires_at=timezone.now() - timedelta(minutes=1))
revoked_token, made["revoked"] = ApiToken.create(users.get(username="alice"))
revoked_token.revoke()
made["inactive"] = token("frank")
users.filter(username="frank").update(is_active=False)
made["read_only"] = token("demo", scopes=["read-only"])
made["echo_only"] = token("demo", scopes=["echo"])
made["lender"] = token("demo")
print(json.dumps(made))
"""


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    launcher = DaphneLauncher(tmp_path_factory, "daphne-security")
    try:
        yield launcher.start(
            DJANGO_MCP_SETTINGS_JSON=json.dumps(SETTINGS),
            DJANGO_MCP_RATE_LIMIT=RATE_LIMIT,
            DJANGO_MCP_MAX_SESSIONS_PER_USER=SESSIONS_PER_USER,
            E2E_HEADER_SECRET=HEADER_SECRET,
        )
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def tokens(secure: DaphneServer) -> dict[str, str]:
    made: dict[str, str] = json.loads(last_line(secure.manage("shell", "-c", FIXTURES).stdout))
    return made


@pytest.fixture
async def alice(secure: DaphneServer, tokens: dict[str, str]) -> AsyncIterator[SseStream]:
    stream = await SseStream(secure.base_url, bearer(tokens["alice"])).open()
    try:
        yield stream
    finally:
        await stream.close()


def metadata_url(server: DaphneServer) -> str:
    return f"{server.base_url}/.well-known/oauth-protected-resource"


async def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        return await client.request(method, url, **kwargs)


async def get_stream_status(url: str, **kwargs: Any) -> httpx.Response:
    """GET the stream; on 200 read nothing more (the stream would never end)."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT, read=WAIT)) as client,
        client.stream("GET", url, **kwargs) as response,
    ):
        if response.status_code != 200:
            await response.aread()
        return response


PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


# Authentication failures, on both endpoints ------------------------------------------------


AUTH_FAILURES = {
    "missing": lambda tokens: ({}, ""),
    "malformed: no token": lambda tokens: ({"Authorization": "Bearer"}, ""),
    "malformed: two words": lambda tokens: ({"Authorization": f"Bearer {tokens['bob']} x"}, ""),
    "malformed: other scheme": lambda tokens: ({"Authorization": f"Token {tokens['bob']}"}, ""),
    "malformed: not ascii": lambda tokens: ({"Authorization": "Bearer mcp_\u00e9t\u00e9"}, ""),
    "unknown": lambda tokens: ({"Authorization": "Bearer mcp_" + "x" * 43}, ""),
    "expired": lambda tokens: (bearer(tokens["expired"]), ""),
    "revoked": lambda tokens: (bearer(tokens["revoked"]), ""),
    "inactive user": lambda tokens: (bearer(tokens["inactive"]), ""),
    "query access_token": lambda tokens: ({}, f"access_token={tokens['bob']}"),
    "query token": lambda tokens: ({}, f"token={tokens['bob']}"),
}


@pytest.mark.parametrize("case", list(AUTH_FAILURES))
async def test_auth_failures_are_401_on_both_endpoints(
    case: str, secure: DaphneServer, tokens: dict[str, str], alice: SseStream
) -> None:
    headers, query = AUTH_FAILURES[case](tokens)
    raw_headers = {name: value.encode() for name, value in headers.items()}
    challenge = f'resource_metadata="{metadata_url(secure)}"'

    stream = await get_stream_status(
        secure.sse_url + (f"?{query}" if query else ""), headers=raw_headers
    )
    assert stream.status_code == 401, stream.text
    assert stream.headers["www-authenticate"].startswith("Bearer")
    assert challenge in stream.headers["www-authenticate"]
    assert stream.json()["error"]

    # A POST to a live session, so only the credentials can be wrong.
    url = secure.url(alice.endpoint) + (f"&{query}" if query else "")
    post = await request("POST", url, json=PING, headers=raw_headers)
    assert post.status_code == 401, post.text
    assert challenge in post.headers["www-authenticate"]
    assert post.json()  # a JSON body with the reason
    assert not alice.replies_to(1)


# Isolation ---------------------------------------------------------------------------------


async def test_another_users_session_is_404(
    secure: DaphneServer, tokens: dict[str, str], alice: SseStream
) -> None:
    hijack = {"jsonrpc": "2.0", "id": "hijack", "method": "ping"}
    response = await request(
        "POST", secure.url(alice.endpoint), json=hijack, headers=bearer(tokens["bob"])
    )
    assert response.status_code == 404
    assert response.json() == {"error": "Unknown or closed session: open a new stream."}
    # Alice's own POST still works, and the stranger's message never reached her session.
    assert (await alice.request("ping", request_id="own"))["result"] == {}
    assert alice.replies_to("hijack") == []


# Tool permissions and token scopes ---------------------------------------------------------


async def tool_names(stream: SseStream) -> set[str]:
    result = await stream.result("tools/list")
    return {tool["name"] for tool in result["tools"]}


async def test_forbidden_tool_is_invisible_and_refused(
    secure: DaphneServer, tokens: dict[str, str]
) -> None:
    async with SseStream(secure.base_url, bearer(tokens["carol"])) as carol:
        await carol.initialize()
        names = await tool_names(carol)
        assert "echo" in names
        assert "lend_book" not in names  # needs library.add_loan, which carol lacks
        forbidden = await carol.request("tools/call", {"name": "lend_book", "arguments": {}})
        missing = await carol.request("tools/call", {"name": "no_such_tool", "arguments": {}})
    assert forbidden["error"] == {"code": -32602, "message": "Unknown tool: lend_book"}
    assert missing["error"] == {"code": -32602, "message": "Unknown tool: no_such_tool"}

    async with SseStream(secure.base_url, bearer(tokens["lender"])) as demo:
        await demo.initialize()
        assert "lend_book" in await tool_names(demo)


async def test_token_scopes(secure: DaphneServer, tokens: dict[str, str]) -> None:
    async with SseStream(secure.base_url, bearer(tokens["read_only"])) as stream:
        await stream.initialize()
        listed = (await stream.result("tools/list"))["tools"]
        assert listed, "a read-only token still sees the read-only tools"
        assert all(tool["annotations"]["readOnlyHint"] is True for tool in listed)
        assert "lend_book" not in {tool["name"] for tool in listed}
        refused = await stream.request("tools/call", {"name": "lend_book", "arguments": {}})
        assert refused["error"] == {"code": -32602, "message": "Unknown tool: lend_book"}
        echoed = await stream.call("echo", {"message": "hi"})
        assert echoed["structuredContent"]["echo"] == "hi"

    async with SseStream(secure.base_url, bearer(tokens["echo_only"])) as stream:
        await stream.initialize()
        assert await tool_names(stream) == {"echo"}
        refused = await stream.request("tools/call", {"name": "server_time", "arguments": {}})
        assert refused["error"]["code"] == -32602


# DNS rebinding: Host and Origin ------------------------------------------------------------


async def test_bad_host_is_421_on_both_endpoints(
    secure: DaphneServer, tokens: dict[str, str], alice: SseStream
) -> None:
    evil = {"Host": "evil.example", **bearer(tokens["alice"])}
    stream = await get_stream_status(secure.sse_url, headers=evil)
    post = await request("POST", secure.url(alice.endpoint), json=PING, headers=evil)
    for response in (stream, post):
        assert response.status_code == 421, response.text
        assert response.headers["content-type"] == "application/json"
        assert "Host" in response.json()["error"]
    assert not alice.replies_to(1)


async def test_bad_origin_is_403_on_both_endpoints(
    secure: DaphneServer, tokens: dict[str, str], alice: SseStream
) -> None:
    evil = {"Origin": "http://evil.example", **bearer(tokens["alice"])}
    stream = await get_stream_status(secure.sse_url, headers=evil)
    post = await request("POST", secure.url(alice.endpoint), json=PING, headers=evil)
    for response in (stream, post):
        assert response.status_code == 403, response.text
        assert "http://evil.example" in response.json()["error"]
    assert not alice.replies_to(1)

    for origin in (APP_ORIGIN, secure.base_url):  # the allow-list, and same-origin
        allowed = {"Origin": origin, **bearer(tokens["alice"])}
        # (bob opens the stream: alice already holds one of her two.)
        opener = {"Origin": origin, **bearer(tokens["bob"])}
        assert (await get_stream_status(secure.sse_url, headers=opener)).status_code == 200
        ping = {"jsonrpc": "2.0", "id": f"from {origin}", "method": "ping"}
        response = await request("POST", secure.url(alice.endpoint), json=ping, headers=allowed)
        assert response.status_code == 202
        assert (await alice.reply(f"from {origin}"))["result"] == {}


# Limits ------------------------------------------------------------------------------------


async def test_body_size_limit(secure: DaphneServer, alice: SseStream) -> None:
    padding = {"jsonrpc": "2.0", "id": "big", "method": "ping", "params": {"x": "y" * BODY_LIMIT}}
    response = await alice.post(padding)
    assert response.status_code == 413
    assert response.json() == {"error": f"Request body exceeds {BODY_LIMIT} bytes."}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b" " * 1024

    async with httpx.AsyncClient(timeout=WAIT) as client:
        chunked = await client.post(
            secure.url(alice.endpoint), content=chunks(), headers=alice.headers
        )
    assert chunked.status_code == 413
    assert alice.replies_to("big") == []


async def test_json_depth_limit(alice: SseStream) -> None:
    deep = '{"jsonrpc": "2.0", "id": "deep", "method": "ping", "params": {"a": ' + "[" * 80
    response = await alice.post(deep + "]" * 80 + "}}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert "nested deeper than 64" in response.json()["error"]["message"]


async def test_open_sessions_per_user(secure: DaphneServer, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["dave"])
    async with SseStream(secure.base_url, headers), SseStream(secure.base_url, headers):
        refused = await get_stream_status(secure.sse_url, headers=headers)
        assert refused.status_code == 429
        assert refused.json() == {
            "error": f"Too many open sessions: this user already has {SESSIONS_PER_USER} "
            f"(the limit is {SESSIONS_PER_USER}). Close a stream before opening another."
        }
    # Closing one frees a place (the close is recorded just after the disconnect).
    deadline = time.monotonic() + WAIT
    while (status := (await get_stream_status(secure.sse_url, headers=headers)).status_code) == 429:
        assert time.monotonic() < deadline, "a closed stream still counts"
        await asyncio.sleep(0.1)
    assert status == 200


async def test_messages_per_minute(secure: DaphneServer, tokens: dict[str, str]) -> None:
    async with SseStream(secure.base_url, bearer(tokens["erin"])) as stream:
        for _attempt in range(2):
            minute = int(time.time() // 60)
            statuses = []
            for number in range(RATE_LIMIT + 1):
                message = {"jsonrpc": "2.0", "id": f"m{_attempt}-{number}", "method": "ping"}
                statuses.append((await stream.post(message)).status_code)
                if statuses[-1] == 429:
                    break
            if int(time.time() // 60) == minute:
                break  # the whole run fell inside one minute: the counts are exact
        assert statuses[-1] == 429, statuses
        response = await stream.post(PING)
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.json()["error"].startswith(
        f"Rate limit exceeded: at most {RATE_LIMIT} messages per minute."
    )
    assert statuses.count(202) <= RATE_LIMIT


# OAuth discovery ---------------------------------------------------------------------------


async def test_protected_resource_metadata(secure: DaphneServer) -> None:
    unauthenticated = await get_stream_status(secure.sse_url)
    challenge = unauthenticated.headers["www-authenticate"]
    url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    assert url == metadata_url(secure)
    assert 'scope="mcp"' in challenge

    document = await request("GET", url)
    assert document.status_code == 200
    assert document.headers["access-control-allow-origin"] == "*"
    assert document.json() == {
        "resource": f"{secure.base_url}/mcp",
        "authorization_servers": [AUTH_SERVER],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": "example-library",
    }
    suffixed = await request("GET", f"{url}/mcp/sse")
    assert suffixed.json() == document.json()


# Any DRF authentication class --------------------------------------------------------------


async def test_custom_drf_authentication_class_on_both_endpoints(
    secure: DaphneServer, tokens: dict[str, str]
) -> None:
    headers = {"X-Test-User": "grace", "X-Test-Secret": HEADER_SECRET}
    async with SseStream(secure.base_url, headers) as stream:
        result = await stream.initialize()  # POSTs authenticated by the same class
        assert result["serverInfo"]["name"] == "example-library"
        echoed = await stream.call("echo", {"message": "custom auth"})
        assert echoed["structuredContent"]["echo"] == "custom auth"

        wrong = {"X-Test-User": "grace", "X-Test-Secret": "wrong"}
        assert (await get_stream_status(secure.sse_url, headers=wrong)).status_code == 401
        post = await request("POST", secure.url(stream.endpoint), json=PING, headers=wrong)
        assert post.status_code == 401
        other = {"X-Test-User": "heidi", "X-Test-Secret": HEADER_SECRET}
        hijack = await request("POST", secure.url(stream.endpoint), json=PING, headers=other)
        assert hijack.status_code == 404


# CORS, opt-in through ALLOWED_ORIGINS -----------------------------------------------------


async def test_cors_for_allowed_origins_on_both_endpoints(
    secure: DaphneServer, tokens: dict[str, str], alice: SseStream
) -> None:
    preflight_headers = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    for url in (secure.sse_url, secure.url(alice.endpoint)):
        preflight = await request("OPTIONS", url, headers=preflight_headers)
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        refused = await request(
            "OPTIONS", url, headers={**preflight_headers, "Origin": "http://x.y"}
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers

    cross = {"Origin": APP_ORIGIN, **bearer(tokens["bob"])}
    stream = await get_stream_status(secure.sse_url, headers=cross)
    assert stream.status_code == 200
    assert stream.headers["access-control-allow-origin"] == APP_ORIGIN
    ping = {"jsonrpc": "2.0", "id": "cors", "method": "ping"}
    post = await request(
        "POST",
        secure.url(alice.endpoint),
        json=ping,
        headers={"Origin": APP_ORIGIN, **alice.headers},
    )
    assert post.status_code == 202
    assert post.headers["access-control-allow-origin"] == APP_ORIGIN
    unauthorized = await request(
        "POST", secure.url(alice.endpoint), json=ping, headers={"Origin": APP_ORIGIN}
    )
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "www-authenticate" in unauthorized.headers["access-control-expose-headers"]
