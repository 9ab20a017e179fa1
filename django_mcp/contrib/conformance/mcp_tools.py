"""Tools, resources and prompts named and shaped as the conformance suite expects.

Names, texts and schemas follow the suite's server requirements and its
reference "everything" server; see ``docs/conformance.md``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any

from mcp_types import TextContent
from pydantic import BaseModel, ConfigDict, Field

from django_mcp.completion import Completer
from django_mcp.exceptions import ToolError
from django_mcp.prompts import user
from django_mcp.protocol import content
from django_mcp.protocol.context import Context
from django_mcp.registry import Tool, prompt, registry, resource, tool
from django_mcp.schema import Signature

#: A 1x1 red PNG and a minimal WAV file, as in the reference server.
TEST_IMAGE_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
TEST_AUDIO_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
TEST_IMAGE = base64.b64decode(TEST_IMAGE_BASE64)
TEST_AUDIO = base64.b64decode(TEST_AUDIO_BASE64)

# Tools -----------------------------------------------------------------------------------


@tool(description="Tests simple text content response")
def test_simple_text() -> str:
    return "This is a simple text response for testing."


@tool(description="Tests image content response")
def test_image_content() -> content.ContentBlock:
    return content.image(TEST_IMAGE, "image/png")


@tool(description="Tests audio content response")
def test_audio_content() -> content.ContentBlock:
    return content.audio(TEST_AUDIO, "audio/wav")


@tool(description="Tests embedded resource content response")
def test_embedded_resource() -> content.ContentBlock:
    return content.embedded(
        "test://embedded-resource", "This is an embedded resource content.", mime_type="text/plain"
    )


@tool(description="Tests response with multiple content types (text, image, resource)")
def test_multiple_content_types() -> list[content.ContentBlock]:
    return [
        content.text("Multiple content types test:"),
        content.image(TEST_IMAGE, "image/png"),
        content.embedded(
            "test://mixed-content-resource",
            json.dumps({"test": "data", "value": 123}, separators=(",", ":")),
            mime_type="application/json",
        ),
    ]


@tool(description="Tests tool that emits log messages during execution")
async def test_tool_with_logging(ctx: Context) -> str:
    await ctx.info("Tool execution started", logger="conformance-test-server")
    await asyncio.sleep(0.05)
    await ctx.info("Tool processing data", logger="conformance-test-server")
    await asyncio.sleep(0.05)
    await ctx.info("Tool execution completed", logger="conformance-test-server")
    return "Tool with logging executed successfully"


@tool(description="Tests tool that reports progress notifications")
async def test_tool_with_progress(ctx: Context) -> str:
    for step in (0, 50, 100):
        if step:
            await asyncio.sleep(0.05)
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
    return str(ctx.progress_token if ctx.progress_token is not None else 0)


@tool(description="Tests error response handling")
def test_error_handling() -> str:
    raise ToolError("This tool intentionally returns an error for testing")


@tool(description="Tests SSE stream disconnection and client reconnection (SEP-1699)")
def test_reconnection() -> str:
    # HTTP+SSE has no resumable request streams: the call simply completes.
    return (
        "Reconnection test completed successfully. If you received this, the client "
        "properly reconnected after stream closure."
    )


@tool(description="Tests server-initiated sampling (LLM completion request)")
async def test_sampling(
    ctx: Context, prompt: Annotated[str, Field(description="The prompt to send to the LLM")]
) -> str:
    result = await ctx.sample(prompt, max_tokens=100)
    text = result.content.text if isinstance(result.content, TextContent) else "No response"
    return f"LLM response: {text}"


def _elicitation_text(prefix: str, answer: Any) -> str:
    body = json.dumps(answer.content or {}, separators=(",", ":"))
    return f"{prefix}: action={answer.action}, content={body}"


@tool(description="Tests server-initiated elicitation (user input request)")
async def test_elicitation(
    ctx: Context, message: Annotated[str, Field(description="The message to show the user")]
) -> str:
    answer = await ctx.elicit(
        message,
        {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        },
    )
    return _elicitation_text("User response", answer)


@tool(description="Tests elicitation with default values per SEP-1034")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    answer = await ctx.elicit(
        "Please review and update the form fields with defaults",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {
                    "type": "boolean",
                    "description": "Verification status",
                    "default": True,
                },
            },
            "required": [],
        },
    )
    return _elicitation_text("Elicitation completed", answer)


@tool(description="Tests elicitation with enum schema improvements per SEP-1330")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    titled = [
        {"const": "value1", "title": "First Option"},
        {"const": "value2", "title": "Second Option"},
        {"const": "value3", "title": "Third Option"},
    ]
    answer = await ctx.elicit(
        "Please select options from the enum fields",
        {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"],
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": titled,
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"},
                        ]
                    },
                },
            },
            "required": [],
        },
    )
    return _elicitation_text("Elicitation completed", answer)


# SEP-1613: the suite checks that a hand-written JSON Schema 2020-12 input schema
# reaches the client untouched ($schema, $defs, additionalProperties), so this tool
# is registered with that schema instead of one derived from type hints.
JSON_SCHEMA_2020_12_INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


class _Address(BaseModel):
    street: str | None = None
    city: str | None = None


class _SchemaToolArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    address: _Address | None = None


def json_schema_2020_12_tool(name: str | None = None, address: _Address | None = None) -> str:
    arguments = {"name": name, "address": address.model_dump() if address else None}
    given = {key: value for key, value in arguments.items() if value is not None}
    return f"JSON Schema 2020-12 tool called with: {json.dumps(given, separators=(',', ':'))}"


registry.add(
    Tool(
        name="json_schema_2020_12_tool",
        func=json_schema_2020_12_tool,
        signature=Signature(
            arguments_model=_SchemaToolArguments,
            context_parameter=None,
            input_schema=JSON_SCHEMA_2020_12_INPUT_SCHEMA,
            output_adapter=None,
            output_schema=None,
            wrap_output=False,
        ),
        module=__name__,
        description="Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
    )
)

# Resources -------------------------------------------------------------------------------


@resource(
    "test://static-text",
    name="static-text",
    title="Static Text Resource",
    description="A static text resource for testing",
    mime_type="text/plain",
)
def static_text() -> str:
    return "This is the content of the static text resource."


@resource(
    "test://static-binary",
    name="static-binary",
    title="Static Binary Resource",
    description="A static binary resource (image) for testing",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return TEST_IMAGE


@resource(
    "test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps(
        {"id": id, "templateTest": True, "data": f"Data for ID: {id}"}, separators=(",", ":")
    )


@resource(
    "test://watched-resource",
    name="watched-resource",
    title="Watched Resource",
    description="A resource that can be subscribed to",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "Watched resource content"


# Prompts ---------------------------------------------------------------------------------


@prompt(title="Simple Test Prompt", description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


ARG1_SUGGESTIONS: Completer = ["paris", "park", "party"]


@prompt(
    title="Prompt With Arguments",
    description="A prompt with required arguments",
    complete={"arg1": ARG1_SUGGESTIONS},
)
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt(
    title="Prompt With Embedded Resource",
    description="A prompt that includes an embedded resource",
)
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[Any]:
    return [
        content.embedded(
            resourceUri, "Embedded resource content for testing.", mime_type="text/plain"
        ),
        user("Please process the embedded resource above."),
    ]


@prompt(title="Prompt With Image", description="A prompt that includes image content")
def test_prompt_with_image() -> list[Any]:
    return [content.image(TEST_IMAGE, "image/png"), "Please analyze the image above."]
