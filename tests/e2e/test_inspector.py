"""The official MCP Inspector CLI against a real daphne server over HTTP+SSE with a bearer token."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import DaphneServer, InspectorCLI

pytestmark = [pytest.mark.e2e, pytest.mark.inspector]


def _tools_by_name(result: Any) -> dict[str, Any]:
    assert isinstance(result, dict), result
    tools = result.get("tools")
    assert isinstance(tools, list), result
    return {tool["name"]: tool for tool in tools}


def _echo_payload(result: dict[str, Any]) -> dict[str, Any]:
    """The tool's dict result: structuredContent if sent, else the JSON in the text block."""
    structured = result.get("structuredContent")
    if structured is not None:
        assert isinstance(structured, dict), result
        return structured
    texts = [block["text"] for block in result.get("content", []) if block.get("type") == "text"]
    assert texts, f"no structuredContent and no text content: {result}"
    payload = json.loads(texts[0])
    assert isinstance(payload, dict), result
    return payload


def test_inspector_lists_tools(server: DaphneServer, inspector_cli: InspectorCLI) -> None:
    result = inspector_cli.run_json(server, "--method", "tools/list")

    tools = _tools_by_name(result)
    assert {"echo", "server_time"} <= tools.keys(), sorted(tools)

    echo_schema = tools["echo"]["inputSchema"]
    assert echo_schema["type"] == "object"
    assert echo_schema["properties"]["message"]["type"] == "string"
    assert "message" in echo_schema.get("required", [])

    time_schema = tools["server_time"]["inputSchema"]
    assert "timezone" in time_schema["properties"]
    assert "timezone" not in time_schema.get("required", [])


def test_inspector_calls_echo(server: DaphneServer, inspector_cli: InspectorCLI) -> None:
    result = inspector_cli.run_json(
        server, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hello"
    )

    assert result.get("isError") in (False, None), result
    payload = _echo_payload(result)
    assert payload["echo"] == "hello"
    assert "timestamp" in payload
    assert "transport" in payload
    # The text content block carries the same value for clients that ignore structuredContent.
    assert any("hello" in block.get("text", "") for block in result["content"]), result


def test_inspector_call_with_optional_argument(
    server: DaphneServer, inspector_cli: InspectorCLI
) -> None:
    result = inspector_cli.run_json(
        server, "--method", "tools/call", "--tool-name", "server_time", "--tool-arg", "timezone=UTC"
    )
    assert result.get("isError") in (False, None), result
    assert result["content"], result


def test_inspector_unknown_tool_is_not_a_success(
    server: DaphneServer, inspector_cli: InspectorCLI
) -> None:
    proc = inspector_cli.run(server, "--method", "tools/call", "--tool-name", "no_such_tool")
    assert proc.returncode != 0, proc.stdout
    assert "no_such_tool" in proc.stderr


def test_inspector_rejects_wrong_token(server: DaphneServer, inspector_cli: InspectorCLI) -> None:
    proc = inspector_cli.run(server, "--method", "tools/list", token="not-a-valid-token")
    assert proc.returncode != 0, proc.stdout
    assert "echo" not in proc.stdout
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "auth_required", error
    assert "401" in error["message"], error


# Streamable HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_over_streamable_http(
    server: DaphneServer, inspector_cli: InspectorCLI, era: str
) -> None:
    """``--transport http`` against ``/mcp``: a session (legacy) or stateless requests (modern)."""
    listed = inspector_cli.run_json(
        server, "--protocol-era", era, "--method", "tools/list", transport="http"
    )
    assert {"echo", "server_time", "books_search"} <= _tools_by_name(listed).keys()

    called = inspector_cli.run_json(
        server,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "echo",
        "--tool-arg",
        "message=over-http",
        transport="http",
    )
    assert called.get("isError") in (False, None), called
    payload = _echo_payload(called)
    assert payload["echo"] == "over-http"
    assert payload["transport"] == "streamable-http"


def test_inspector_over_streamable_http_rejects_wrong_token(
    server: DaphneServer, inspector_cli: InspectorCLI
) -> None:
    proc = inspector_cli.run(
        server, "--method", "tools/list", token="not-a-valid-token", transport="http"
    )
    assert proc.returncode != 0, proc.stdout
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "auth_required", error
