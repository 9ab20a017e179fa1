"""What goes on the wire for sessions negotiated through ``initialize``."""

from __future__ import annotations

from mcp_types import CallToolResult, ListToolsResult, TextContent

from django_mcp.protocol.handlers import MODERN_ONLY_RESULT_FIELDS, dump, shape_result
from django_mcp.registry import Registry


def test_results_carry_no_fields_of_the_stateless_revision() -> None:
    listed = shape_result("2025-11-25", "tools/list", dump(ListToolsResult(tools=[])))
    called = shape_result(
        "2025-11-25",
        "tools/call",
        dump(CallToolResult(content=[TextContent(type="text", text="hi")])),
    )
    for result in (listed, called):
        assert not set(MODERN_ONLY_RESULT_FIELDS) & set(result)
    assert called == {"content": [{"type": "text", "text": "hi"}], "isError": False}


def test_stateless_results_carry_result_type_cache_fields_and_server_info() -> None:
    listed = shape_result("2026-07-28", "tools/list", dump(ListToolsResult(tools=[])))
    called = shape_result("2026-07-28", "tools/call", {"content": [], "isError": False})
    assert listed["resultType"] == called["resultType"] == "complete"
    assert listed["ttlMs"] == 0 and listed["cacheScope"] == "private"
    assert "ttlMs" not in called and "cacheScope" not in called
    for result in (listed, called):
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]


def test_a_tool_returning_a_call_tool_result_has_no_output_schema() -> None:
    registry = Registry()

    @registry.tool
    def raw() -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text="x")])

    tool = registry.get("raw")
    assert tool is not None
    assert tool.signature.output_schema is None
    assert tool.signature.output_adapter is None
