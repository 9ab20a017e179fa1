"""The ``@tool`` decorator, the registry, and the schemas taken from type hints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import pytest
from django.core.exceptions import ImproperlyConfigured
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from django_mcp import apps
from django_mcp.protocol.context import Context
from django_mcp.protocol.handlers import Handlers
from django_mcp.registry import Registry, Tool, registry


@pytest.fixture
def reg() -> Registry:
    return Registry()


def result_of(reg: Registry, name: str, value: Any) -> CallToolResult:
    tool = reg.get(name)
    assert tool is not None
    return Handlers(reg).tool_result(tool, value)


def wire(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


class Point(BaseModel):
    x: int
    y: int


class Totals(TypedDict):
    total: int
    label: str


@dataclass
class Pair:
    left: str
    right: str


# Decorator forms ------------------------------------------------------------------


def test_bare_decorator_registers_under_function_name(reg: Registry) -> None:
    @reg.tool
    def greet(name: str) -> str:
        """Say hello."""
        return f"hello {name}"

    tool = reg.get("greet")
    assert tool is not None
    assert tool.func is greet
    assert greet("bob") == "hello bob"  # the function itself is returned unchanged
    assert tool.description == "Say hello."
    assert tool.module == __name__
    assert tool.is_async is False
    assert "greet" in reg


def test_decorator_with_arguments(reg: Registry) -> None:
    @reg.tool(name="say-hi", title="Say hi", description="Greets someone.", read_only=True)
    def greet(name: str) -> str:
        """Ignored docstring."""
        return name

    assert reg.get("greet") is None
    tool = reg.get("say-hi")
    assert tool is not None
    definition = wire(tool.definition())
    assert definition["name"] == "say-hi"
    assert definition["title"] == "Say hi"
    assert definition["description"] == "Greets someone."
    assert definition["annotations"] == {"readOnlyHint": True}


def test_async_function(reg: Registry) -> None:
    @reg.tool
    async def later(n: int) -> int:
        await asyncio.sleep(0)
        return n

    tool = reg.get("later")
    assert tool is not None
    assert tool.is_async is True


def test_annotation_hints(reg: Registry) -> None:
    @reg.tool(read_only=False, destructive=True, idempotent=False, open_world=True)
    def nuke() -> None: ...

    @reg.tool(annotations={"readOnlyHint": True, "title": "Look"}, idempotent=True)
    def look() -> None: ...

    @reg.tool(annotations=ToolAnnotations(open_world_hint=False))
    def closed() -> None: ...

    @reg.tool
    def plain() -> None: ...

    def annotations(name: str) -> Any:
        tool = reg.get(name)
        assert tool is not None
        return wire(tool.definition()).get("annotations")

    assert annotations("nuke") == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": True,
    }
    assert annotations("look") == {"title": "Look", "readOnlyHint": True, "idempotentHint": True}
    assert annotations("closed") == {"openWorldHint": False}
    assert annotations("plain") is None


def test_description_defaults_to_cleaned_docstring(reg: Registry) -> None:
    @reg.tool
    def documented() -> None:
        """First line.

        More detail, indented in the source.
        """

    tool = reg.get("documented")
    assert tool is not None
    assert tool.description == "First line.\n\nMore detail, indented in the source."


def test_default_registry_autodiscovered_testapp_tools() -> None:
    names = {tool.name for tool in registry.tools()}
    assert {"add", "whoami", "fail", "crash", "staff_report"} <= names
    tool = registry.get("add")
    assert tool is not None
    assert tool.module == "tests.testapp.mcp_tools"


def test_simple_config_does_not_autodiscover(monkeypatch: pytest.MonkeyPatch) -> None:
    import django_mcp
    from django_mcp import registry as registry_module

    calls: list[str] = []
    monkeypatch.setattr(registry_module, "autodiscover", lambda: calls.append("discovered"))
    apps.SimpleMCPConfig("django_mcp", django_mcp).ready()
    assert calls == []
    apps.MCPConfig("django_mcp", django_mcp).ready()
    assert calls == ["discovered"]


# Names ------------------------------------------------------------------------------


def test_duplicate_name_raises_naming_both_modules(reg: Registry) -> None:
    @reg.tool
    def twice() -> None: ...

    with pytest.raises(ImproperlyConfigured) as info:

        @reg.tool(name="twice")
        def other() -> None: ...

    message = str(info.value)
    assert "'twice'" in message
    assert __name__ in message
    assert "already registered" in message


def test_duplicate_across_modules_names_the_first_module(reg: Registry) -> None:
    reg.add(Tool(name="shared", func=lambda: None, signature=_sig(reg), module="app_one.mcp_tools"))
    with pytest.raises(ImproperlyConfigured) as info:
        reg.add(
            Tool(name="shared", func=lambda: None, signature=_sig(reg), module="app_two.mcp_tools")
        )
    assert "app_two.mcp_tools" in str(info.value)
    assert "app_one.mcp_tools" in str(info.value)


def _sig(reg: Registry) -> Any:
    scratch = Registry()

    @scratch.tool
    def anything() -> None: ...

    tool = scratch.get("anything")
    assert tool is not None
    return tool.signature


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "é", "x" * 129, "semi;colon"])
def test_invalid_name_raises_naming_the_module(reg: Registry, name: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:

        @reg.tool(name=name)
        def func() -> None: ...

    assert "Invalid MCP tool name" in str(info.value)
    assert __name__ in str(info.value)
    assert reg.get(name) is None


@pytest.mark.parametrize("name", ["a", "A.b-c_d", "x" * 128, "tool.v2"])
def test_valid_names(reg: Registry, name: str) -> None:
    @reg.tool(name=name)
    def func(q: int = 0) -> None: ...

    assert reg.get(name) is not None


def test_remove_and_clear(reg: Registry) -> None:
    @reg.tool
    def one() -> None: ...

    @reg.tool
    def two() -> None: ...

    reg.remove("one")
    reg.remove("missing")
    assert [tool.name for tool in reg.tools()] == ["two"]
    reg.clear()
    assert list(reg.tools()) == []


# Signatures that cannot become a schema ------------------------------------------------


def test_var_positional_refused(reg: Registry) -> None:
    with pytest.raises(ImproperlyConfigured) as info:

        @reg.tool
        def spread(*items: int) -> None: ...

    assert "*items" in str(info.value)
    assert __name__ in str(info.value)
    assert "'spread'" in str(info.value)


def test_var_keyword_refused(reg: Registry) -> None:
    with pytest.raises(ImproperlyConfigured) as info:

        @reg.tool
        def loose(**options: Any) -> None: ...

    assert "options" in str(info.value)


def test_unresolvable_hint_refused(reg: Registry) -> None:
    with pytest.raises(ImproperlyConfigured) as info:

        @reg.tool
        def broken(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
            ...

    assert "'broken'" in str(info.value)
    assert __name__ in str(info.value)


# Input schema -----------------------------------------------------------------------------


def test_input_schema_from_hints(reg: Registry) -> None:
    @reg.tool
    def search(
        query: Annotated[str, Field(description="Words to find", max_length=20)],
        limit: Annotated[int, "How many results"] = 10,
        exact: bool = False,
        tag: str | None = None,
    ) -> None: ...

    tool = reg.get("search")
    assert tool is not None
    schema = tool.signature.input_schema
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["query"]["type"] == "string"
    assert props["query"]["description"] == "Words to find"
    assert props["query"]["maxLength"] == 20
    assert props["limit"] == {
        "default": 10,
        "description": "How many results",
        "title": "Limit",
        "type": "integer",
    }
    assert props["exact"]["type"] == "boolean"
    assert props["exact"]["default"] is False
    assert {"type": "null"} in props["tag"]["anyOf"]
    assert "title" not in schema


def test_no_parameters_gives_empty_object_schema(reg: Registry) -> None:
    @reg.tool
    def nothing() -> None: ...

    tool = reg.get("nothing")
    assert tool is not None
    assert tool.signature.input_schema["type"] == "object"
    assert tool.signature.input_schema["properties"] == {}


def test_nested_model_argument_has_defs(reg: Registry) -> None:
    @reg.tool
    def move(to: Point) -> None: ...

    tool = reg.get("move")
    assert tool is not None
    schema = tool.signature.input_schema
    assert schema["properties"]["to"] == {"$ref": "#/$defs/Point"}
    assert schema["$defs"]["Point"]["required"] == ["x", "y"]


def test_arguments_model_validates_and_forbids_extras(reg: Registry) -> None:
    @reg.tool
    def add(a: int, b: int = 1) -> int:
        return a + b

    tool = reg.get("add")
    assert tool is not None
    model = tool.signature.arguments_model
    assert model.model_validate({"a": "3"}).model_dump() == {"a": 3, "b": 1}
    with pytest.raises(ValueError, match="Extra inputs"):
        model.model_validate({"a": 1, "c": 2})
    with pytest.raises(ValueError, match="Field required"):
        model.model_validate({})


# Context parameter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [Context, Context | None, Optional[Context], Annotated[Context, "the ctx"]],  # noqa: UP045
)
def test_context_parameter_detected(reg: Registry, annotation: Any) -> None:
    def uses(query: str, ctx: Any) -> None: ...

    uses.__annotations__ = {"query": str, "ctx": annotation, "return": None}
    reg.tool(uses)
    tool = reg.get("uses")
    assert tool is not None
    assert tool.signature.context_parameter == "ctx"
    assert list(tool.signature.input_schema["properties"]) == ["query"]
    assert "ctx" not in tool.signature.arguments_model.model_fields


class MyContext(Context):
    pass


def test_context_subclass_detected(reg: Registry) -> None:
    @reg.tool
    def uses(context: MyContext) -> None: ...

    tool = reg.get("uses")
    assert tool is not None
    assert tool.signature.context_parameter == "context"


def test_no_context_parameter(reg: Registry) -> None:
    @reg.tool
    def plain(ctx: int | None = None) -> None: ...

    tool = reg.get("plain")
    assert tool is not None
    assert tool.signature.context_parameter is None
    assert "ctx" in tool.signature.input_schema["properties"]


# Output schema and structured content ----------------------------------------------------


def test_base_model_output(reg: Registry) -> None:
    @reg.tool
    def where() -> Point:
        return Point(x=1, y=2)

    tool = reg.get("where")
    assert tool is not None
    schema = tool.signature.output_schema
    assert schema is not None
    assert schema["type"] == "object"
    assert schema["required"] == ["x", "y"]
    assert "title" not in schema
    result = result_of(reg, "where", Point(x=1, y=2))
    assert result.structured_content == {"x": 1, "y": 2}
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == '{"x": 1, "y": 2}'
    assert wire(tool.definition())["outputSchema"] == schema


def test_typed_dict_output(reg: Registry) -> None:
    @reg.tool
    def totals() -> Totals:
        return {"total": 3, "label": "x"}

    tool = reg.get("totals")
    assert tool is not None
    assert tool.signature.output_schema is not None
    assert tool.signature.output_schema["properties"]["total"]["type"] == "integer"
    assert tool.signature.wrap_output is False
    result = result_of(reg, "totals", {"total": 3, "label": "x"})
    assert result.structured_content == {"total": 3, "label": "x"}


def test_dataclass_output(reg: Registry) -> None:
    @reg.tool
    def pair() -> Pair:
        return Pair("a", "b")

    tool = reg.get("pair")
    assert tool is not None
    assert tool.signature.output_schema is not None
    assert tool.signature.output_schema["required"] == ["left", "right"]
    result = result_of(reg, "pair", Pair("a", "b"))
    assert result.structured_content == {"left": "a", "right": "b"}


def test_dict_output_is_structured_unwrapped(reg: Registry) -> None:
    @reg.tool
    def anything() -> dict[str, Any]:
        return {}

    tool = reg.get("anything")
    assert tool is not None
    assert tool.signature.output_schema == {"type": "object", "additionalProperties": True}
    assert result_of(reg, "anything", {"k": [1]}).structured_content == {"k": [1]}


@pytest.mark.parametrize(
    ("annotation", "value", "inner_type"),
    [(int, 3, "integer"), (float, 1.5, "number"), (bool, True, "boolean")],
)
def test_primitive_output_is_wrapped(
    reg: Registry, annotation: Any, value: Any, inner_type: str
) -> None:
    def primitive() -> Any:
        return value

    primitive.__annotations__ = {"return": annotation}
    reg.tool(primitive)
    tool = reg.get("primitive")
    assert tool is not None
    assert tool.signature.wrap_output is True
    assert tool.signature.output_schema == {
        "type": "object",
        "properties": {"result": {"type": inner_type}},
        "required": ["result"],
    }
    result = result_of(reg, "primitive", value)
    assert result.structured_content == {"result": value}
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == f'{{"result": {str(value).lower()}}}'


def test_list_output_is_wrapped(reg: Registry) -> None:
    @reg.tool
    def names() -> list[str]:
        return ["a"]

    tool = reg.get("names")
    assert tool is not None
    assert tool.signature.output_schema is not None
    assert tool.signature.output_schema["properties"]["result"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert result_of(reg, "names", ["a", "b"]).structured_content == {"result": ["a", "b"]}


def test_list_of_models_keeps_defs_at_top(reg: Registry) -> None:
    @reg.tool
    def points() -> list[Point]:
        return []

    tool = reg.get("points")
    assert tool is not None
    schema = tool.signature.output_schema
    assert schema is not None
    assert schema["properties"]["result"]["items"] == {"$ref": "#/$defs/Point"}
    assert "Point" in schema["$defs"]
    assert "$defs" not in schema["properties"]["result"]
    result = result_of(reg, "points", [Point(x=1, y=1)])
    assert result.structured_content == {"result": [{"x": 1, "y": 1}]}


def test_optional_model_output_is_wrapped(reg: Registry) -> None:
    @reg.tool
    def maybe() -> Point | None:
        return None

    assert result_of(reg, "maybe", None).structured_content == {"result": None}
    assert result_of(reg, "maybe", Point(x=0, y=5)).structured_content == {
        "result": {"x": 0, "y": 5}
    }


@pytest.mark.parametrize("annotation", [str, None, "missing"])
def test_unstructured_returns_have_no_output_schema(reg: Registry, annotation: Any) -> None:
    def text() -> Any:
        return "hi"

    text.__annotations__ = {} if annotation == "missing" else {"return": annotation}
    reg.tool(text)
    tool = reg.get("text")
    assert tool is not None
    assert tool.signature.output_schema is None
    assert tool.signature.output_adapter is None
    result = result_of(reg, "text", "hi")
    assert result.structured_content is None
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == "hi"


def test_structured_output_false_opts_out(reg: Registry) -> None:
    @reg.tool(structured_output=False)
    def raw() -> dict[str, int]:
        return {"a": 1}

    tool = reg.get("raw")
    assert tool is not None
    assert tool.signature.output_schema is None
    result = result_of(reg, "raw", {"a": 1})
    assert result.structured_content is None
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == '{"a": 1}'


def test_unstructured_model_is_rendered_as_json(reg: Registry) -> None:
    # With structured output off, or no return annotation at all, a model or
    # dataclass still becomes its JSON text, not its repr.
    @reg.tool(structured_output=False)
    def model() -> Point:
        return Point(x=1, y=2)

    @reg.tool
    def unannotated():  # type: ignore[no-untyped-def]
        return Pair("l", "r")

    model_result = result_of(reg, "model", Point(x=1, y=2))
    pair_result = result_of(reg, "unannotated", Pair("l", "r"))
    assert isinstance(model_result.content[0], TextContent)
    assert isinstance(pair_result.content[0], TextContent)
    assert model_result.content[0].text == '{"x": 1, "y": 2}'
    assert pair_result.content[0].text == '{"left": "l", "right": "r"}'


def test_content_block_return_passes_through(reg: Registry) -> None:
    @reg.tool
    def block() -> TextContent:
        return TextContent(type="text", text="t")

    @reg.tool
    def blocks() -> list[TextContent]:
        return []

    for name in ("block", "blocks"):
        tool = reg.get(name)
        assert tool is not None
        assert tool.signature.output_schema is None
    result = result_of(reg, "block", TextContent(type="text", text="t"))
    assert result.content == [TextContent(type="text", text="t")]


def test_call_tool_result_return_passes_through(reg: Registry) -> None:
    @reg.tool
    def custom() -> CallToolResult:
        return CallToolResult(content=[], is_error=True)

    given = CallToolResult(content=[], is_error=True)
    assert result_of(reg, "custom", given) is given


# Permissions --------------------------------------------------------------------------------


class FakeUser:
    def __init__(self, *perms: str) -> None:
        self.perms = set(perms)

    def has_perms(self, perms: list[str]) -> bool:
        return set(perms) <= self.perms


def test_permissions(reg: Registry) -> None:
    @reg.tool(permission="app.view_x")
    def one() -> None: ...

    @reg.tool(permission=["app.view_x", "app.change_x"])
    def two() -> None: ...

    @reg.tool(permission=lambda user: getattr(user, "vip", False))
    def three() -> None: ...

    @reg.tool
    def four() -> None: ...

    viewer = FakeUser("app.view_x")
    editor = FakeUser("app.view_x", "app.change_x")
    assert [t.name for t in reg.tools_for(viewer)] == ["one", "four"]  # type: ignore[arg-type]
    assert [t.name for t in reg.tools_for(editor)] == ["one", "two", "four"]  # type: ignore[arg-type]
    assert reg.has_callable_checks is True
    editor.vip = True  # type: ignore[attr-defined]
    assert [t.name for t in reg.tools_for(editor)] == ["one", "two", "three", "four"]  # type: ignore[arg-type]
    # an object without has_perms (no auth backend) sees only unrestricted tools
    assert [t.name for t in reg.tools_for(object())] == ["four"]  # type: ignore[arg-type]
    reg.remove("three")
    assert reg.has_callable_checks is False


def test_to_content_json_for_common_types() -> None:
    import datetime

    from django_mcp.protocol import content

    when = datetime.datetime(2024, 5, 6, 7, 8, tzinfo=datetime.UTC)
    blocks = content.to_content({"when": when, "tags": ("a",), "thing": object})
    assert isinstance(blocks[0], TextContent)
    assert blocks[0].text == (
        '{"when": "2024-05-06T07:08:00Z", "tags": ["a"], "thing": "<class \'object\'>"}'
    )
    assert content.to_content(None) == []
    assert content.to_content("plain") == [TextContent(type="text", text="plain")]
