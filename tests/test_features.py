"""Resources, prompts, completion, logging, progress, cancellation and server-to-client
requests, driven through ``ServerSession`` + ``Handlers`` with a fake transport.

Everything is registered on a registry of this module's own, so the capabilities and
lists asserted here do not depend on other test apps.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.test import override_settings
from mcp_types import GetPromptResult, PromptMessage, TextContent, TextResourceContents
from pydantic import BaseModel, Field

from django_mcp.completion import model_values
from django_mcp.exceptions import ToolError
from django_mcp.prompts import assistant, user
from django_mcp.protocol import content
from django_mcp.protocol.context import Context, elicitation_schema
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import URLElicitationRequired
from django_mcp.protocol.live import live_sessions
from django_mcp.protocol.session import ServerSession
from django_mcp.registry import Registry
from django_mcp.resources import notify_updated, watch_model

WAIT = 5.0
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV = base64.b64decode("UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=")

reg = Registry()

# Resources -------------------------------------------------------------------------------


@reg.resource("test://static-text", title="Static text", description="Plain text.")
def static_text() -> str:
    return "hello"


@reg.resource("test://logo.png")
def logo() -> bytes:
    return PNG


@reg.resource("test://data")
async def data() -> dict[str, Any]:
    return {"a": 1, "when": "now"}


class Item(BaseModel):
    id: int
    name: str


@reg.resource(
    "test://items/{item_id}", mime_type="application/json", complete={"item_id": ["1", "2", "10"]}
)
async def item(item_id: int) -> Item:
    if item_id == 404:
        raise ObjectDoesNotExist("gone")
    if item_id == 500:
        raise RuntimeError("secret detail")
    if item_id == 503:
        raise ToolError(f"Item store offline (key {settings.SECRET_KEY})")
    return Item(id=item_id, name=f"item {item_id}")


@reg.resource("test://files/{+path}")
def file(path: str) -> str:
    return f"file {path}"


@reg.resource("test://secret", permission="auth.view_user")
def secret() -> str:
    return "secret"


@reg.resource("test://explicit")
def explicit() -> list[TextResourceContents]:
    return [
        TextResourceContents(uri="test://explicit#1", mime_type="text/markdown", text="# one"),
        TextResourceContents(uri="test://explicit#2", text="two"),
    ]


@reg.resource("test://whoami")
async def whoami(ctx: Context) -> str:
    return f"{ctx.user}:{ctx.request_id}"


# Prompts ---------------------------------------------------------------------------------


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"
    SARDONIC = "sardonic"


@reg.prompt(title="Greet", complete={"name": ["alice", "Albert", "bob"]})
def greet(
    name: Annotated[str, "Who to greet"],
    times: int = 1,
    mood: Mood = Mood.HAPPY,
) -> str:
    """Greet someone."""
    return f"Say hello to {name} {times} time(s), {mood.value}."


@reg.prompt
def multimodal() -> list[Any]:
    return [
        user(content.image(PNG, "image/png")),
        assistant("I see a red pixel."),
        content.embedded("test://static-text", "hello"),
        "What now?",
    ]


@reg.prompt(permission="auth.view_user")
def hidden_prompt() -> str:
    return "hidden"


@reg.prompt
def refuses(topic: str) -> str:
    raise ToolError(f"Nothing is known about {topic}.")


@reg.prompt
def leaky(topic: str) -> str:
    raise ToolError(f"No {topic} with {settings.SECRET_KEY}")


@reg.prompt
def broken() -> str:
    raise RuntimeError("secret detail")


@reg.prompt
async def raw_result(ctx: Context) -> GetPromptResult:
    return GetPromptResult(
        description="custom",
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=str(ctx.user)))],
    )


async def cities(value: str, arguments: dict[str, str]) -> list[str]:
    known = {"france": ["Paris", "Lyon", "Lille"], "italy": ["Rome", "Milan"]}
    return [city for city in known.get(arguments.get("country", ""), []) if city.startswith(value)]


@reg.prompt(complete={"city": cities})
def trip(country: str, city: str) -> str:
    return f"Plan a trip to {city}, {country}."


@reg.prompt(complete={"username": model_values(User, "username")})
def about_user(username: str) -> str:
    return username


@reg.prompt(complete={"word": lambda value: [f"{value}{n}" for n in range(150)]})
def many(word: str) -> str:
    return word


# Tools -----------------------------------------------------------------------------------

EVENTS: list[str] = []
STARTED = threading.Event()


@reg.tool
async def progress_tool(ctx: Context, steps: int = 3) -> str:
    sent = []
    for step in range(1, steps + 1):
        sent.append(await ctx.report_progress(step, steps, f"step {step}"))
    sent.append(await ctx.report_progress(1, steps, "going back"))
    return ",".join(str(flag) for flag in sent)


@reg.tool
async def log_tool(ctx: Context) -> str:
    sent = [
        await ctx.log(level, {"level": level}, logger="unit")
        for level in ("debug", "info", "warning", "error")
    ]
    return ",".join(str(flag) for flag in sent)


@reg.tool
async def slow(ctx: Context) -> str:
    EVENTS.append("started")
    await asyncio.sleep(30)
    EVENTS.append("finished")
    return "done"


@reg.tool
def sync_slow(ctx: Context) -> str:
    STARTED.set()
    for _ in range(500):
        if ctx.cancelled:
            EVENTS.append("noticed cancel")
            ctx.check_cancelled()
        time.sleep(0.01)
    EVENTS.append("finished")
    return "done"


@reg.tool
async def ask_llm(ctx: Context, prompt: str) -> str:
    result = await ctx.sample(
        prompt, max_tokens=50, system_prompt="Be brief.", model_preferences="claude"
    )
    assert isinstance(result.content, TextContent)
    return f"{result.model}: {result.content.text}"


class Confirm(BaseModel):
    ok: bool = Field(description="Really?")
    note: str = ""
    mood: Mood = Mood.HAPPY


@reg.tool
async def confirm(ctx: Context) -> str:
    answer = await ctx.elicit("Are you sure?", Confirm)
    return f"{answer.action}:{answer.data!r}"


@reg.tool
async def open_url(ctx: Context) -> str:
    answer = await ctx.elicit_url(
        "Connect your account", "https://example.com/connect", elicitation_id="e-1"
    )
    await ctx.complete_elicitation("e-1")
    return f"{answer.action}:{answer.elicitation_id}"


@reg.tool
async def roots(ctx: Context) -> list[str]:
    return [str(root.uri) for root in await ctx.list_roots()]


@reg.tool
def sync_sampler(ctx: Context) -> str:
    async_to_sync(ctx.log)("warning", "from a thread")
    result = async_to_sync(ctx.sample)("hi")
    assert isinstance(result.content, TextContent)
    return result.content.text


@reg.tool
async def needs_login() -> str:
    raise URLElicitationRequired(
        [{"mode": "url", "elicitationId": "x", "url": "https://example.com/x", "message": "Log in"}]
    )


@reg.tool
def media() -> list[content.ContentBlock]:
    return [
        content.text("All content types:"),
        content.image(PNG, "image/png"),
        content.audio(WAV, "audio/wav"),
        content.resource_link("test://static-text", "static-text", mime_type="text/plain"),
        content.embedded("test://logo.png", PNG, mime_type="image/png"),
    ]


# Harness ---------------------------------------------------------------------------------


class FakeUser:
    is_authenticated = True
    is_active = True

    def __init__(self, *perms: str, pk: int = 4242) -> None:
        self.perms = set(perms)
        self.pk = pk

    def has_perms(self, perms: list[str]) -> bool:
        return set(perms) <= self.perms

    def __str__(self) -> str:
        return f"user-{self.pk}"


class Client:
    def __init__(self, user: Any, capabilities: dict[str, Any], session_id: str) -> None:
        self.messages: list[Any] = []
        self.capabilities = capabilities
        self.session = ServerSession(
            session_id=session_id,
            user=user if user is not None else AnonymousUser(),
            send=self._send,
            handlers=Handlers(registry=reg),
            transport="sse",
        )
        self._ids = 0

    async def _send(self, message: Any) -> None:
        self.messages.append(message)

    async def wait_for(self, predicate: Callable[[Any], bool]) -> Any:
        async with asyncio.timeout(WAIT):
            while True:
                for message in self.messages:
                    if isinstance(message, dict) and predicate(message):
                        return message
                await asyncio.sleep(0.005)

    def send(self, request_id: Any, method: str, params: dict[str, Any] | None = None) -> Any:
        if request_id is None:
            self._ids += 1
            request_id = self._ids
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.session.receive(message)
        return request_id

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = self.send(None, method, params)
        reply: dict[str, Any] = await self.wait_for(
            lambda m: m.get("id") == request_id and "method" not in m
        )
        return reply

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "result" in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(method, params)
        assert "error" in reply, reply
        error: dict[str, Any] = reply["error"]
        return error

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.session.receive(message)

    def answer(
        self,
        request_id: Any,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result or {}
        self.session.receive(message)

    async def server_request(self, method: str) -> dict[str, Any]:
        message: dict[str, Any] = await self.wait_for(
            lambda m: m.get("method") == method and "id" in m
        )
        return message

    def notifications(self, method: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if isinstance(m, dict) and m.get("method") == method and "id" not in m
        ]

    async def initialize(self) -> dict[str, Any]:
        result = await self.result(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": self.capabilities,
                "clientInfo": {"name": "t", "version": "1"},
            },
        )
        self.notify("notifications/initialized")
        return result

    async def call(
        self, name: str, arguments: dict[str, Any] | None = None, **params: Any
    ) -> dict[str, Any]:
        return await self.result(
            "tools/call", {"name": name, "arguments": arguments or {}, **params}
        )


ALL_CAPABILITIES = {
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    "roots": {"listChanged": True},
}


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    clients: list[Client] = []

    async def make(user: Any = None, capabilities: dict[str, Any] | None = None) -> Client:
        client = Client(
            user, ALL_CAPABILITIES if capabilities is None else capabilities, f"s{len(clients)}"
        )
        clients.append(client)
        await client.initialize()
        return client

    yield make
    for client in clients:
        client.session.close()
    await asyncio.sleep(0)


@pytest.fixture
async def ready(make_client: Callable[..., Any]) -> Client:
    client: Client = await make_client()
    return client


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()
    STARTED.clear()


# Capabilities -----------------------------------------------------------------------------


async def test_capabilities_follow_the_registry(make_client: Callable[..., Any]) -> None:
    client: Client = Client(None, {}, "caps")
    result = await client.initialize()
    assert result["capabilities"] == {
        "tools": {"listChanged": True},
        "resources": {"subscribe": True, "listChanged": True},
        "prompts": {"listChanged": True},
        "completions": {},
        "logging": {},
    }
    client.session.close()


async def test_initialized_sessions_are_live_until_closed(make_client: Callable[..., Any]) -> None:
    client: Client = await make_client()
    assert client.session.id in {entry for entry in live_sessions._entries}
    client.session.close()
    assert client.session.id not in live_sessions._entries


# Resources --------------------------------------------------------------------------------


async def test_resources_list(ready: Client) -> None:
    result = await ready.result("resources/list")
    by_uri = {item["uri"]: item for item in result["resources"]}
    assert "nextCursor" not in result
    assert by_uri["test://static-text"] == {
        "uri": "test://static-text",
        "name": "static_text",
        "title": "Static text",
        "description": "Plain text.",
    }
    assert by_uri["test://logo.png"]["mimeType"] == "image/png"
    assert "test://secret" not in by_uri
    assert not any("{" in uri for uri in by_uri)


async def test_resource_templates_list(ready: Client) -> None:
    result = await ready.result("resources/templates/list")
    templates = {item["uriTemplate"]: item for item in result["resourceTemplates"]}
    assert set(templates) == {"test://items/{item_id}", "test://files/{+path}"}
    assert templates["test://items/{item_id}"]["mimeType"] == "application/json"
    assert templates["test://items/{item_id}"]["name"] == "item"


async def test_resources_list_pagination(ready: Client) -> None:
    with override_settings(DJANGO_MCP={"PAGE_SIZE": 2}):
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            result = await ready.result("resources/list", {"cursor": cursor} if cursor else {})
            seen += [item["uri"] for item in result["resources"]]
            cursor = result.get("nextCursor")
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == len(reg.resources()) - 1  # all but the hidden one
    assert (await ready.error("resources/list", {"cursor": "nope"}))["code"] == -32602


async def test_read_text(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://static-text"})
    assert result["contents"] == [
        {"uri": "test://static-text", "mimeType": "text/plain", "text": "hello"}
    ]


async def test_read_binary_is_base64(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://logo.png"})
    [blob] = result["contents"]
    assert blob["mimeType"] == "image/png"
    assert base64.b64decode(blob["blob"]) == PNG


async def test_read_json(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://data"})
    assert result["contents"][0]["mimeType"] == "application/json"
    assert result["contents"][0]["text"] == '{"a":1,"when":"now"}'


async def test_read_template_converts_variables(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://items/7"})
    assert result["contents"] == [
        {
            "uri": "test://items/7",
            "mimeType": "application/json",
            "text": '{"id":7,"name":"item 7"}',
        }
    ]


async def test_read_reserved_template(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://files/a/b%20c.txt"})
    assert result["contents"][0]["text"] == "file a/b c.txt"


async def test_read_explicit_contents(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://explicit"})
    assert [item["uri"] for item in result["contents"]] == [
        "test://explicit#1",
        "test://explicit#2",
    ]
    assert result["contents"][0]["mimeType"] == "text/markdown"


async def test_read_with_context(ready: Client) -> None:
    result = await ready.result("resources/read", {"uri": "test://whoami"})
    assert result["contents"][0]["text"].startswith("AnonymousUser:")


@pytest.mark.parametrize(
    "uri",
    [
        "test://nope",
        "test://items/",
        "test://items/abc",
        "test://items/7/extra",
        "test://items/404",
        "test://secret",
    ],
)
async def test_read_not_found(ready: Client, uri: str) -> None:
    error = await ready.error("resources/read", {"uri": uri})
    assert error["code"] == -32002
    assert error["data"] == {"uri": uri}
    assert error["message"].startswith("Resource not found")


async def test_read_permitted_user_sees_hidden_resource(make_client: Callable[..., Any]) -> None:
    client: Client = await make_client(FakeUser("auth.view_user"))
    listed = await client.result("resources/list")
    assert "test://secret" in {item["uri"] for item in listed["resources"]}
    assert (await client.result("resources/read", {"uri": "test://secret"}))["contents"][0][
        "text"
    ] == "secret"


async def test_read_tool_error_keeps_its_message_but_not_secrets(ready: Client) -> None:
    error = await ready.error("resources/read", {"uri": "test://items/503"})
    assert error["code"] == -32603
    assert error["message"].startswith("Item store offline (key ")
    assert settings.SECRET_KEY not in error["message"]


async def test_read_failure_is_internal_error_without_details(ready: Client) -> None:
    error = await ready.error("resources/read", {"uri": "test://items/500"})
    assert error["code"] == -32603
    assert "secret" not in error["message"]


@pytest.mark.parametrize("params", [{}, {"uri": 5}, {"uri": ""}])
async def test_read_needs_a_uri(ready: Client, params: dict[str, Any]) -> None:
    assert (await ready.error("resources/read", params))["code"] == -32602


# Subscriptions ----------------------------------------------------------------------------


async def test_subscribe_and_update(make_client: Callable[..., Any]) -> None:
    subscriber: Client = await make_client()
    bystander: Client = await make_client()
    assert await subscriber.result("resources/subscribe", {"uri": "test://items/7"}) == {}
    notify_updated("test://items/7")
    notify_updated("test://items/8")
    message = await subscriber.wait_for(
        lambda m: m.get("method") == "notifications/resources/updated"
    )
    assert message == {
        "jsonrpc": "2.0",
        "method": "notifications/resources/updated",
        "params": {"uri": "test://items/7"},
    }
    await asyncio.sleep(0.05)
    assert len(subscriber.notifications("notifications/resources/updated")) == 1
    assert bystander.notifications("notifications/resources/updated") == []

    assert await subscriber.result("resources/unsubscribe", {"uri": "test://items/7"}) == {}
    notify_updated("test://items/7")
    await asyncio.sleep(0.05)
    assert len(subscriber.notifications("notifications/resources/updated")) == 1


async def test_notify_from_another_thread(ready: Client) -> None:
    await ready.result("resources/subscribe", {"uri": "test://static-text"})
    thread = threading.Thread(target=notify_updated, args=("test://static-text",))
    thread.start()
    thread.join()
    await ready.wait_for(lambda m: m.get("method") == "notifications/resources/updated")


@pytest.mark.parametrize("uri", ["test://nope", "test://secret"])
async def test_subscribe_unknown_or_hidden(ready: Client, uri: str) -> None:
    assert (await ready.error("resources/subscribe", {"uri": uri}))["code"] == -32002
    assert live_sessions.subscriptions(ready.session.id) == frozenset()


async def test_closed_session_gets_no_updates(ready: Client) -> None:
    await ready.result("resources/subscribe", {"uri": "test://data"})
    ready.session.close()
    notify_updated("test://data")
    await asyncio.sleep(0.05)
    assert ready.notifications("notifications/resources/updated") == []


@pytest.mark.django_db(transaction=True)
async def test_watch_model_notifies_after_save_and_delete(
    ready: Client, django_user_model: Any
) -> None:
    disconnect = watch_model(
        django_user_model, "users://{id}", lambda u: f"users://by-name/{u.username}"
    )
    try:
        created = await django_user_model.objects.acreate(username="watched")
        uris = [f"users://{created.pk}", "users://by-name/watched"]
        # Subscriptions go through the live table directly: these URIs are not registered.
        for uri in uris:
            live_sessions.subscribe(ready.session, uri)
        created.first_name = "W"
        await created.asave()
        await ready.wait_for(lambda m: m.get("params") == {"uri": uris[1]})
        await created.adelete()
        await asyncio.sleep(0.05)
        updates = [
            m["params"]["uri"] for m in ready.notifications("notifications/resources/updated")
        ]
        assert sorted(updates) == sorted(uris * 2)
    finally:
        disconnect()


def test_watch_model_checks_its_templates(django_user_model: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="no attribute nope"):
        watch_model(django_user_model, "users://{nope}")
    with pytest.raises(ImproperlyConfigured, match="at least one URI"):
        watch_model(django_user_model)


async def test_list_changed_reaches_every_live_session(make_client: Callable[..., Any]) -> None:
    alice: Client = await make_client(FakeUser(pk=1))
    bob: Client = await make_client(FakeUser(pk=2))
    reg.notify_list_changed()
    for client in (alice, bob):
        await client.wait_for(lambda m: m.get("method") == "notifications/tools/list_changed")
    reg.notify_list_changed("prompts", user=2)
    await bob.wait_for(lambda m: m.get("method") == "notifications/prompts/list_changed")
    await asyncio.sleep(0.05)
    assert alice.notifications("notifications/prompts/list_changed") == []
    with pytest.raises(ValueError, match="kind"):
        reg.notify_list_changed("roots")


# Registration errors ---------------------------------------------------------------------


def test_resource_registration_errors() -> None:
    other = Registry()

    def two(a: int, b: int) -> str:
        return ""

    with pytest.raises(ImproperlyConfigured, match=r"no parameter for \['c'\]"):
        other.resource("x://{a}/{c}")(two)
    with pytest.raises(ImproperlyConfigured, match=r"\['b'\] are not in the URI"):
        other.resource("x://{a}")(two)
    with pytest.raises(ImproperlyConfigured, match="Unsupported expression"):
        other.resource("x://{?a,b}")(two)
    with pytest.raises(ImproperlyConfigured, match="needs a scheme"):
        other.resource("no-scheme")(lambda: "")
    with pytest.raises(ImproperlyConfigured, match=r"cannot complete \['z'\]"):
        other.resource("x://{a}", complete={"z": []})(lambda a: a)
    other.resource("x://one")(lambda: "")
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        other.resource("x://one")(lambda: "")


def test_prompt_registration_errors() -> None:
    other = Registry()
    with pytest.raises(ImproperlyConfigured, match="Invalid MCP prompt name"):
        other.prompt(name="bad name")(lambda: "")
    with pytest.raises(ImproperlyConfigured, match=r"completes \['nope'\]"):
        other.prompt(name="p", complete={"nope": []})(lambda x: x)
    other.prompt(name="p")(lambda: "")
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        other.prompt(name="p")(lambda: "")


# Prompts ----------------------------------------------------------------------------------


async def test_prompts_list(ready: Client) -> None:
    result = await ready.result("prompts/list")
    prompts = {item["name"]: item for item in result["prompts"]}
    assert "hidden_prompt" not in prompts
    assert prompts["greet"] == {
        "name": "greet",
        "title": "Greet",
        "description": "Greet someone.",
        "arguments": [
            {"name": "name", "description": "Who to greet", "required": True},
            {"name": "times", "required": False},
            {"name": "mood", "required": False},
        ],
    }
    assert "arguments" not in prompts["multimodal"]


async def test_prompts_get_converts_arguments(ready: Client) -> None:
    result = await ready.result(
        "prompts/get", {"name": "greet", "arguments": {"name": "Ada", "times": "3", "mood": "sad"}}
    )
    assert result["description"] == "Greet someone."
    assert result["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Say hello to Ada 3 time(s), sad."}}
    ]


async def test_prompts_get_multimodal(ready: Client) -> None:
    result = await ready.result("prompts/get", {"name": "multimodal"})
    messages = result["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "user"]
    assert messages[0]["content"] == {
        "type": "image",
        "data": base64.b64encode(PNG).decode(),
        "mimeType": "image/png",
    }
    assert messages[2]["content"] == {
        "type": "resource",
        "resource": {"uri": "test://static-text", "mimeType": "text/plain", "text": "hello"},
    }
    assert messages[3]["content"]["text"] == "What now?"


async def test_prompts_get_raw_result(ready: Client) -> None:
    result = await ready.result("prompts/get", {"name": "raw_result"})
    assert result["description"] == "custom"
    assert result["messages"][0]["content"]["text"] == "AnonymousUser"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"name": "greet"}, "name: Field required"),
        ({"name": "greet", "arguments": {"name": "x", "times": "many"}}, "times"),
        ({"name": "greet", "arguments": {"name": "x", "mood": "angry"}}, "mood"),
        ({"name": "greet", "arguments": ["x"]}, '"arguments" must be an object'),
        ({"name": "nope"}, "Unknown prompt: nope"),
        ({"name": "hidden_prompt"}, "Unknown prompt: hidden_prompt"),
        ({"name": 3}, '"name" must be a string'),
        ({"name": "refuses", "arguments": {"topic": "dragons"}}, "Nothing is known about dragons."),
    ],
)
async def test_prompts_get_invalid_params(
    ready: Client, params: dict[str, Any], fragment: str
) -> None:
    error = await ready.error("prompts/get", params)
    assert error["code"] == -32602
    assert fragment in error["message"]


async def test_prompt_refusal_masks_secrets(ready: Client) -> None:
    error = await ready.error("prompts/get", {"name": "leaky", "arguments": {"topic": "x"}})
    assert error["code"] == -32602
    assert error["message"].startswith("No x with ")
    assert settings.SECRET_KEY not in error["message"]


async def test_prompt_failure_is_internal_error(ready: Client) -> None:
    error = await ready.error("prompts/get", {"name": "broken"})
    assert error["code"] == -32603
    assert "secret" not in error["message"]


# Completion -------------------------------------------------------------------------------


async def complete(
    client: Client, ref: dict[str, Any], name: str, value: str, **context: str
) -> dict[str, Any]:
    params: dict[str, Any] = {"ref": ref, "argument": {"name": name, "value": value}}
    if context:
        params["context"] = {"arguments": context}
    result = await client.result("completion/complete", params)
    completion: dict[str, Any] = result["completion"]
    return completion


async def test_complete_static_list_is_case_insensitive(ready: Client) -> None:
    completion = await complete(ready, {"type": "ref/prompt", "name": "greet"}, "name", "AL")
    assert completion == {"values": ["alice", "Albert"], "total": 2, "hasMore": False}


async def test_complete_enum_automatically(ready: Client) -> None:
    completion = await complete(ready, {"type": "ref/prompt", "name": "greet"}, "mood", "s")
    assert completion["values"] == ["sad", "sardonic"]


async def test_complete_without_completer_is_empty(ready: Client) -> None:
    completion = await complete(ready, {"type": "ref/prompt", "name": "greet"}, "times", "1")
    assert completion == {"values": [], "total": 0, "hasMore": False}


async def test_complete_uses_context_arguments(ready: Client) -> None:
    ref = {"type": "ref/prompt", "name": "trip"}
    assert (await complete(ready, ref, "city", "L", country="france"))["values"] == [
        "Lyon",
        "Lille",
    ]
    assert (await complete(ready, ref, "city", "", country="italy"))["values"] == ["Rome", "Milan"]


async def test_complete_caps_at_100(ready: Client) -> None:
    completion = await complete(ready, {"type": "ref/prompt", "name": "many"}, "word", "w")
    assert len(completion["values"]) == 100
    assert completion["total"] == 150
    assert completion["hasMore"] is True


async def test_complete_template_variable(ready: Client) -> None:
    completion = await complete(
        ready, {"type": "ref/resource", "uri": "test://items/{item_id}"}, "item_id", "1"
    )
    assert completion["values"] == ["1", "10"]


@pytest.mark.django_db(transaction=True)
async def test_complete_from_model_values(ready: Client, django_user_model: Any) -> None:
    for name in ("ada", "adele", "bob"):
        await django_user_model.objects.acreate(username=name)
    completion = await complete(
        ready, {"type": "ref/prompt", "name": "about_user"}, "username", "AD"
    )
    assert completion == {"values": ["ada", "adele"], "hasMore": False}


@pytest.mark.parametrize(
    "params",
    [
        {"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "x", "value": ""}},
        {
            "ref": {"type": "ref/prompt", "name": "hidden_prompt"},
            "argument": {"name": "x", "value": ""},
        },
        {
            "ref": {"type": "ref/resource", "uri": "test://nope/{x}"},
            "argument": {"name": "x", "value": ""},
        },
        {
            "ref": {"type": "ref/prompt", "name": "greet"},
            "argument": {"name": "unknown", "value": ""},
        },
        {"ref": {"type": "ref/other"}, "argument": {"name": "x", "value": ""}},
        {"ref": "greet", "argument": {"name": "x", "value": ""}},
        {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name"}},
        {"ref": {"type": "ref/prompt", "name": "greet"}},
    ],
)
async def test_complete_invalid_params(ready: Client, params: dict[str, Any]) -> None:
    assert (await ready.error("completion/complete", params))["code"] == -32602


# Logging ----------------------------------------------------------------------------------


async def test_log_defaults_to_info(ready: Client) -> None:
    result = await ready.call("log_tool")
    assert result["content"][0]["text"] == "False,True,True,True"
    levels = [m["params"]["level"] for m in ready.notifications("notifications/message")]
    assert levels == ["info", "warning", "error"]
    assert ready.notifications("notifications/message")[0]["params"] == {
        "level": "info",
        "logger": "unit",
        "data": {"level": "info"},
    }


async def test_set_level_filters_log_messages(ready: Client) -> None:
    assert await ready.result("logging/setLevel", {"level": "warning"}) == {}
    assert (await ready.call("log_tool"))["content"][0]["text"] == "False,False,True,True"
    assert await ready.result("logging/setLevel", {"level": "debug"}) == {}
    assert (await ready.call("log_tool"))["content"][0]["text"] == "True,True,True,True"


@pytest.mark.parametrize("level", ["verbose", "", None, 3, "INFO"])
async def test_set_level_refuses_unknown_levels(ready: Client, level: Any) -> None:
    assert (await ready.error("logging/setLevel", {"level": level}))["code"] == -32602


# Progress ---------------------------------------------------------------------------------


async def test_progress_with_token(ready: Client) -> None:
    result = await ready.call("progress_tool", {"steps": 3}, _meta={"progressToken": "tok"})
    # The last report goes back to 1: dropped, as progress must increase.
    assert result["content"][0]["text"] == "True,True,True,False"
    progress = [m["params"] for m in ready.notifications("notifications/progress")]
    assert progress == [
        {"progressToken": "tok", "progress": 1.0, "total": 3.0, "message": "step 1"},
        {"progressToken": "tok", "progress": 2.0, "total": 3.0, "message": "step 2"},
        {"progressToken": "tok", "progress": 3.0, "total": 3.0, "message": "step 3"},
    ]
    last_progress = max(
        i for i, m in enumerate(ready.messages) if m.get("method") == "notifications/progress"
    )
    response = next(
        i for i, m in enumerate(ready.messages) if "result" in m and "content" in m["result"]
    )
    assert last_progress < response


@pytest.mark.parametrize("meta", [None, {}, {"progressToken": True}, {"progressToken": 1.5}])
async def test_no_progress_without_a_valid_token(ready: Client, meta: Any) -> None:
    extra = {} if meta is None else {"_meta": meta}
    result = await ready.call("progress_tool", {"steps": 2}, **extra)
    assert result["content"][0]["text"] == "False,False,False"
    assert ready.notifications("notifications/progress") == []


async def test_no_progress_after_the_call_finished(ready: Client) -> None:
    kept: list[Context] = []

    @reg.tool(name="keeps_context")
    async def keeps_context(ctx: Context) -> str:
        kept.append(ctx)
        return "ok"

    try:
        await ready.call("keeps_context", _meta={"progressToken": 9})
        assert await kept[0].report_progress(1) is False
        assert ready.notifications("notifications/progress") == []
    finally:
        reg.remove("keeps_context")


# Cancellation -----------------------------------------------------------------------------


async def test_cancel_async_tool_sends_no_response_and_stops_the_work(ready: Client) -> None:
    request_id = ready.send("slow-1", "tools/call", {"name": "slow", "arguments": {}})
    for _ in range(500):
        if EVENTS:
            break
        await asyncio.sleep(0.005)
    assert EVENTS == ["started"]
    ready.notify(
        "notifications/cancelled", {"requestId": request_id, "reason": "user pressed stop"}
    )
    assert await ready.result("ping") == {}
    await asyncio.sleep(0.05)
    assert EVENTS == ["started"]
    assert [m for m in ready.messages if m.get("id") == request_id] == []
    assert ready.session.running == 0


async def test_cancel_sync_tool_sets_the_flag(ready: Client) -> None:
    request_id = ready.send("sync-1", "tools/call", {"name": "sync_slow", "arguments": {}})
    assert await asyncio.to_thread(STARTED.wait, WAIT)
    ready.notify("notifications/cancelled", {"requestId": request_id})
    for _ in range(500):
        if EVENTS:
            break
        await asyncio.sleep(0.01)
    assert EVENTS == ["noticed cancel"]
    await asyncio.sleep(0.05)
    assert [m for m in ready.messages if m.get("id") == request_id] == []


# Server-to-client requests ---------------------------------------------------------------


async def test_sampling_round_trip(ready: Client) -> None:
    call_id = ready.send(
        None, "tools/call", {"name": "ask_llm", "arguments": {"prompt": "Capital of France?"}}
    )
    request = await ready.server_request("sampling/createMessage")
    assert request["params"] == {
        "messages": [{"role": "user", "content": {"type": "text", "text": "Capital of France?"}}],
        "maxTokens": 50,
        "systemPrompt": "Be brief.",
        "modelPreferences": {"hints": [{"name": "claude"}]},
    }
    ready.answer(
        request["id"],
        {
            "role": "assistant",
            "content": {"type": "text", "text": "Paris."},
            "model": "m-1",
            "stopReason": "endTurn",
        },
    )
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["content"][0]["text"] == "m-1: Paris."
    assert len(ready.session.outgoing) == 0


async def test_sampling_error_from_the_client(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "ask_llm", "arguments": {"prompt": "x"}})
    request = await ready.server_request("sampling/createMessage")
    ready.answer(request["id"], error={"code": -1, "message": "User rejected sampling request"})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"] == "User rejected sampling request"


async def test_malformed_sampling_answer(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "ask_llm", "arguments": {"prompt": "x"}})
    request = await ready.server_request("sampling/createMessage")
    ready.answer(request["id"], {"nonsense": True})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["isError"] is True
    assert "malformed" in reply["result"]["content"][0]["text"]


async def test_sampling_timeout_cancels_the_client_request(ready: Client) -> None:
    with override_settings(DJANGO_MCP={"CLIENT_REQUEST_TIMEOUT": 0.1}):
        result = await ready.call("ask_llm", {"prompt": "x"})
    assert result["isError"] is True
    assert (
        "did not answer sampling/createMessage within 0.1 seconds" in result["content"][0]["text"]
    )
    request = await ready.server_request("sampling/createMessage")
    [cancelled] = ready.notifications("notifications/cancelled")
    assert cancelled["params"]["requestId"] == request["id"]
    # A late answer is ignored.
    ready.answer(
        request["id"],
        {"role": "assistant", "content": {"type": "text", "text": "late"}, "model": "m"},
    )
    assert await ready.result("ping") == {}


@pytest.mark.parametrize(
    ("tool", "arguments", "capabilities", "missing"),
    [
        ("ask_llm", {"prompt": "x"}, {}, {"sampling": {}}),
        ("confirm", {}, {"sampling": {}}, {"elicitation": {"form": {}}}),
        ("confirm", {}, {"elicitation": {"url": {}}}, {"elicitation": {"form": {}}}),
        ("open_url", {}, {"elicitation": {}}, {"elicitation": {"url": {}}}),
        ("roots", {}, {"sampling": {}}, {"roots": {}}),
    ],
)
async def test_missing_client_capability_is_a_protocol_error(
    make_client: Callable[..., Any],
    tool: str,
    arguments: dict[str, Any],
    capabilities: dict[str, Any],
    missing: dict[str, Any],
) -> None:
    client: Client = await make_client(capabilities=capabilities)
    error = await client.error("tools/call", {"name": tool, "arguments": arguments})
    assert error["code"] == -32021
    assert error["data"] == {"requiredCapabilities": missing}
    assert "does not support" in error["message"]
    assert not any(
        m.get("method") in ("sampling/createMessage", "elicitation/create", "roots/list")
        for m in client.messages
    )


async def test_elicitation_accepted(make_client: Callable[..., Any]) -> None:
    client: Client = await make_client(capabilities={"elicitation": {}})  # empty means form mode
    call_id = client.send(None, "tools/call", {"name": "confirm", "arguments": {}})
    request = await client.server_request("elicitation/create")
    schema = request["params"]["requestedSchema"]
    assert request["params"]["mode"] == "form"
    assert request["params"]["message"] == "Are you sure?"
    assert schema["type"] == "object" and schema["required"] == ["ok"]
    assert schema["properties"]["ok"] == {
        "description": "Really?",
        "title": "Ok",
        "type": "boolean",
    }
    assert schema["properties"]["mood"]["enum"] == ["happy", "sad", "sardonic"]
    assert "$defs" not in schema
    client.answer(
        request["id"], {"action": "accept", "content": {"ok": True, "note": "yes", "mood": "sad"}}
    )
    reply = await client.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert (
        reply["result"]["content"][0]["text"]
        == "accept:Confirm(ok=True, note='yes', mood=<Mood.SAD: 'sad'>)"
    )


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_elicitation_declined(ready: Client, action: str) -> None:
    call_id = ready.send(None, "tools/call", {"name": "confirm", "arguments": {}})
    request = await ready.server_request("elicitation/create")
    ready.answer(request["id"], {"action": action})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["content"][0]["text"] == f"{action}:None"


async def test_elicitation_answer_not_matching_the_schema(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "confirm", "arguments": {}})
    request = await ready.server_request("elicitation/create")
    ready.answer(request["id"], {"action": "accept", "content": {"note": "no ok field"}})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["isError"] is True
    assert "does not match its schema" in reply["result"]["content"][0]["text"]


async def test_url_elicitation(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "open_url", "arguments": {}})
    request = await ready.server_request("elicitation/create")
    assert request["params"] == {
        "mode": "url",
        "message": "Connect your account",
        "url": "https://example.com/connect",
        "elicitationId": "e-1",
    }
    ready.answer(request["id"], {"action": "accept"})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["content"][0]["text"] == "accept:e-1"
    assert ready.notifications("notifications/elicitation/complete")[0]["params"] == {
        "elicitationId": "e-1"
    }


async def test_url_elicitation_required_error(ready: Client) -> None:
    error = await ready.error("tools/call", {"name": "needs_login", "arguments": {}})
    assert error["code"] == -32042
    assert error["data"]["elicitations"][0]["elicitationId"] == "x"


async def test_list_roots(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "roots", "arguments": {}})
    request = await ready.server_request("roots/list")
    ready.answer(request["id"], {"roots": [{"uri": "file:///home/ada/project", "name": "Project"}]})
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["structuredContent"] == {"result": ["file:///home/ada/project"]}


async def test_sync_tool_uses_the_context_through_async_to_sync(ready: Client) -> None:
    call_id = ready.send(None, "tools/call", {"name": "sync_sampler", "arguments": {}})
    request = await ready.server_request("sampling/createMessage")
    ready.answer(
        request["id"],
        {"role": "assistant", "content": {"type": "text", "text": "from the model"}, "model": "m"},
    )
    reply = await ready.wait_for(lambda m: m.get("id") == call_id and "result" in m)
    assert reply["result"]["content"][0]["text"] == "from the model"
    assert ready.notifications("notifications/message")[0]["params"]["data"] == "from a thread"


async def test_closing_the_session_fails_pending_requests(ready: Client) -> None:
    ready.send(None, "tools/call", {"name": "ask_llm", "arguments": {"prompt": "x"}})
    await ready.server_request("sampling/createMessage")
    assert len(ready.session.outgoing) == 1
    ready.session.close()
    await asyncio.sleep(0.01)
    assert len(ready.session.outgoing) == 0


async def test_cancelling_a_tool_cancels_its_client_request(ready: Client) -> None:
    call_id = ready.send("ask-1", "tools/call", {"name": "ask_llm", "arguments": {"prompt": "x"}})
    request = await ready.server_request("sampling/createMessage")
    ready.notify("notifications/cancelled", {"requestId": call_id})
    cancelled = await ready.wait_for(lambda m: m.get("method") == "notifications/cancelled")
    assert cancelled["params"]["requestId"] == request["id"]
    assert [m for m in ready.messages if m.get("id") == call_id] == []


def test_elicitation_schema_refuses_nested_models() -> None:
    class Address(BaseModel):
        city: str

    class Person(BaseModel):
        address: Address

    with pytest.raises(TypeError, match="nested objects are not allowed"):
        elicitation_schema(Person)
    with pytest.raises(TypeError, match="object schema"):
        elicitation_schema({"type": "string"})


# Content types ---------------------------------------------------------------------------


async def test_tool_returns_every_content_type(ready: Client) -> None:
    result = await ready.call("media")
    assert [block["type"] for block in result["content"]] == [
        "text",
        "image",
        "audio",
        "resource_link",
        "resource",
    ]
    assert result["content"][1] == {
        "type": "image",
        "data": base64.b64encode(PNG).decode(),
        "mimeType": "image/png",
    }
    assert result["content"][2]["mimeType"] == "audio/wav"
    assert result["content"][3] == {
        "type": "resource_link",
        "uri": "test://static-text",
        "name": "static-text",
        "mimeType": "text/plain",
    }
    assert result["content"][4]["resource"]["blob"] == base64.b64encode(PNG).decode()
    assert "structuredContent" not in result
