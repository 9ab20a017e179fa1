"""Who sees and calls which tool: permissions, staff/superuser-only, token scopes;
and what a failing tool tells the client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_mcp.exceptions import ToolError
from django_mcp.models import ApiToken
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.session import ServerSession
from django_mcp.registry import Registry
from django_mcp.security.errors import MASK, redact
from django_mcp.security.scopes import READ_ONLY, ToolScopes, scopes_for

tools = Registry()


@tools.tool(read_only=True)
def reader() -> str:
    return "read"


@tools.tool
def writer() -> str:
    return "written"


@tools.tool(read_only=True, staff_only=True)
def staff_report() -> str:
    return "staff"


@tools.tool(superuser_only=True)
def purge() -> str:
    return "purged"


@tools.tool(permission="library.add_loan")
def lend() -> str:
    return "lent"


@tools.tool
def leaky() -> str:
    raise RuntimeError(f"could not connect with key {settings.SECRET_KEY}")


@tools.tool
def refuses(reason: str) -> str:
    raise ToolError(reason)


class User:
    is_authenticated = True
    is_active = True
    pk = 1

    def __init__(self, *perms: str, staff: bool = False, superuser: bool = False) -> None:
        self.perms = set(perms)
        self.is_staff = staff or superuser
        self.is_superuser = superuser

    def has_perms(self, perms: list[str]) -> bool:
        return self.is_superuser or set(perms) <= self.perms


class Session:
    def __init__(self, user: Any, scopes: ToolScopes | None = None) -> None:
        self.sent: list[Any] = []

        async def send(message: Any) -> None:
            self.sent.append(message)

        self.session = ServerSession(
            session_id="s",
            user=user,
            send=send,
            handlers=Handlers(registry=tools),
            transport="sse",
            scopes=scopes,
        )
        self.session.protocol_version = "2025-11-25"
        self._id = 0

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._id += 1
        request_id = self._id
        self.session.receive(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        )
        async with asyncio.timeout(5):
            while True:
                for message in self.sent:
                    if message.get("id") == request_id:
                        return dict(message)
                await asyncio.sleep(0.005)

    async def names(self) -> set[str]:
        reply = await self.call("tools/list")
        return {tool["name"] for tool in reply["result"]["tools"]}


def unknown(name: str) -> dict[str, Any]:
    return {"code": -32602, "message": f"Unknown tool: {name}"}


# Permissions, staff-only, superuser-only ---------------------------------------------------


async def test_each_user_sees_only_the_tools_they_may_call() -> None:
    everyone = {"reader", "writer", "leaky", "refuses"}
    assert await Session(User()).names() == everyone
    assert await Session(User("library.add_loan")).names() == everyone | {"lend"}
    assert await Session(User(staff=True)).names() == everyone | {"staff_report"}
    assert await Session(User(superuser=True)).names() == everyone | {
        "staff_report",
        "purge",
        "lend",
    }


@pytest.mark.parametrize("name", ["staff_report", "purge", "lend"])
async def test_forbidden_tool_is_refused_exactly_like_a_missing_one(name: str) -> None:
    client = Session(User())
    forbidden = await client.call("tools/call", {"name": name})
    missing = await client.call("tools/call", {"name": "no_such_tool"})
    assert forbidden["error"] == unknown(name)
    assert missing["error"] == unknown("no_such_tool")
    assert "data" not in forbidden["error"]


async def test_allowed_user_calls_the_staff_tool() -> None:
    reply = await Session(User(staff=True)).call("tools/call", {"name": "staff_report"})
    assert reply["result"]["content"][0]["text"] == "staff"


# Token scopes ------------------------------------------------------------------------------


def test_scopes_parse() -> None:
    assert ToolScopes.parse([]) is None
    assert ToolScopes.parse(None) is None
    assert ToolScopes.parse([READ_ONLY]) == ToolScopes(frozenset(), read_only=True)
    assert ToolScopes.parse(["writer", READ_ONLY]) == ToolScopes(frozenset({"writer"}), True)
    # Nothing usable in a non-empty list restricts to nothing, not to everything.
    assert ToolScopes.parse([5]) == ToolScopes(frozenset(), read_only=False)
    assert str(ToolScopes(frozenset({"b", "a"}), True)) == "a b read-only"


async def test_read_only_scope() -> None:
    client = Session(User(superuser=True), ToolScopes.parse([READ_ONLY]))
    assert await client.names() == {"reader", "staff_report"}
    refused = await client.call("tools/call", {"name": "writer"})
    assert refused["error"] == unknown("writer")
    allowed = await client.call("tools/call", {"name": "reader"})
    assert allowed["result"]["content"][0]["text"] == "read"


async def test_named_tool_scope() -> None:
    client = Session(User(), ToolScopes.parse(["writer"]))
    assert await client.names() == {"writer"}
    assert (await client.call("tools/call", {"name": "reader"}))["error"] == unknown("reader")


async def test_scopes_never_grant_what_the_user_lacks() -> None:
    client = Session(User(), ToolScopes.parse(["purge", "lend"]))
    assert await client.names() == set()
    assert (await client.call("tools/call", {"name": "purge"}))["error"] == unknown("purge")


@pytest.mark.django_db
def test_scopes_come_from_api_tokens_only(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("ada")
    scoped, _raw = ApiToken.create(user, scopes=[READ_ONLY, "writer"])
    unscoped, _raw = ApiToken.create(user)
    assert scopes_for(scoped) == ToolScopes(frozenset({"writer"}), read_only=True)
    assert scopes_for(unscoped) is None
    assert scopes_for(None) is None
    assert scopes_for(object()) is None


# Tool errors -------------------------------------------------------------------------------


async def test_tool_error_keeps_its_message() -> None:
    reply = await Session(User()).call(
        "tools/call", {"name": "refuses", "arguments": {"reason": "No copy left."}}
    )
    assert reply["result"]["content"] == [{"type": "text", "text": "No copy left."}]
    assert reply["result"]["isError"] is True


async def test_unexpected_exception_gives_no_traceback_and_no_secret() -> None:
    reply = await Session(User()).call("tools/call", {"name": "leaky"})
    result = reply["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert text == f"could not connect with key {MASK}"
    assert settings.SECRET_KEY not in str(reply)
    assert "Traceback" not in str(reply)


@override_settings(
    WAREHOUSE_DATABASE={"HOST": "db.internal", "PASSWORD": "hunter2-db-pass"},
    STRIPE_API_KEY="sk_live_abcdef123",
    AUTH_USER_MODEL="auth.User",
)
def test_redact_masks_sensitive_settings_only() -> None:
    message = "auth.User failed: password hunter2-db-pass, key sk_live_abcdef123, 404 page"
    assert redact(message) == f"auth.User failed: password {MASK}, key {MASK}, 404 page"


def test_redact_cuts_very_long_messages() -> None:
    assert len(redact("x" * 10_000)) <= 2001
