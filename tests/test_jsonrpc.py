"""JSON-RPC 2.0 envelopes: decoding, message shapes and error codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from django_mcp.protocol import jsonrpc
from django_mcp.protocol.jsonrpc import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    Notification,
    ParseError,
    Request,
    Response,
    parse_message,
    recover_id,
)

# loads ---------------------------------------------------------------------


def test_loads_decodes_bytes_and_text() -> None:
    assert jsonrpc.loads(b'{"a": [1, 2]}', 64) == {"a": [1, 2]}
    assert jsonrpc.loads('{"a": "\u00e9"}', 64) == {"a": "\u00e9"}


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"a": 1,}', b"[1, 2", b"'single'"])
def test_loads_malformed_json_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        jsonrpc.loads(body, 64)
    assert info.value.code == -32700
    assert info.value.message.startswith("Parse error")


def test_loads_invalid_utf8_is_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        jsonrpc.loads(b'{"a": "\xff\xfe"}', 64)
    assert info.value.code == -32700
    assert "UTF-8" in info.value.message


def test_loads_depth_limit_is_inclusive() -> None:
    assert jsonrpc.loads("[" * 8 + "]" * 8, 8) == json.loads("[" * 8 + "]" * 8)
    with pytest.raises(ParseError) as info:
        jsonrpc.loads("[" * 9 + "]" * 9, 8)
    assert "deeper than 8" in info.value.message


def test_loads_depth_counts_objects_and_arrays() -> None:
    deep = '{"a": [{"b": [{"c": 1}]}]}'  # five levels
    assert jsonrpc.loads(deep, 5)["a"][0]["b"][0]["c"] == 1
    with pytest.raises(ParseError):
        jsonrpc.loads(deep, 4)


def test_loads_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"s": "[[[[{{{{" * 50, "t": 'x\\"[[[[' * 20})
    assert jsonrpc.loads(text, 2)["s"].startswith("[[[[")


def test_loads_wide_but_shallow_is_fine() -> None:
    text = json.dumps([[i] for i in range(1000)])
    assert len(jsonrpc.loads(text, 2)) == 1000


def test_loads_very_deep_input_never_recursion_errors() -> None:
    with pytest.raises(ParseError):
        jsonrpc.loads("[" * 100_000, 64)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_non_json_constants(constant: str) -> None:
    with pytest.raises(ParseError) as info:
        jsonrpc.loads('{"x": ' + constant + "}", 64)
    assert info.value.code == -32700
    assert f"{constant.lstrip('-')} is not valid JSON" in info.value.message


def test_loads_accepts_constants_inside_strings() -> None:
    assert jsonrpc.loads('{"x": "NaN Infinity"}', 64) == {"x": "NaN Infinity"}


def test_loads_number_too_long_for_int_is_parse_error() -> None:
    with pytest.raises(ParseError):
        jsonrpc.loads('{"id": ' + "9" * 5000 + "}", 64)


# parse_message: the valid shapes ---------------------------------------------


def test_request_with_int_id() -> None:
    message = parse_message({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert message == Request(id=1, method="ping", params={})


def test_request_with_string_id_and_params() -> None:
    message = parse_message(
        {"jsonrpc": "2.0", "id": "abc", "method": "tools/call", "params": {"name": "x"}}
    )
    assert message == Request(id="abc", method="tools/call", params={"name": "x"})


def test_request_with_null_params_gets_empty_params() -> None:
    message = parse_message({"jsonrpc": "2.0", "id": 0, "method": "ping", "params": None})
    assert message == Request(id=0, method="ping", params={})


def test_request_with_huge_ids() -> None:
    assert parse_message({"jsonrpc": "2.0", "id": 10**30, "method": "ping"}).id == 10**30  # type: ignore[union-attr]
    long_id = "x" * 10_000
    assert parse_message({"jsonrpc": "2.0", "id": long_id, "method": "ping"}).id == long_id  # type: ignore[union-attr]


def test_notification() -> None:
    message = parse_message({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert message == Notification(method="notifications/initialized", params={})


def test_notification_with_params() -> None:
    message = parse_message(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}
    )
    assert message == Notification(method="notifications/cancelled", params={"requestId": 3})


def test_result_response() -> None:
    message = parse_message({"jsonrpc": "2.0", "id": 7, "result": {"ok": True}})
    assert message == Response(id=7, result={"ok": True}, error=None)


def test_error_response() -> None:
    error = {"code": -32601, "message": "nope"}
    message = parse_message({"jsonrpc": "2.0", "id": "r1", "error": error})
    assert message == Response(id="r1", result=None, error=error)


# parse_message: invalid requests -----------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ([], "must be an object"),
        ("ping", "must be an object"),
        (42, "must be an object"),
        (None, "must be an object"),
        ({"id": 1, "method": "ping"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": 2.0, "id": 1, "method": "ping"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": 1.0, "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, '"id" must be'),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, '"method" must be'),
        ({"jsonrpc": "2.0", "id": 1, "method": ""}, '"method" must be'),
        ({"jsonrpc": "2.0", "id": 1, "method": None}, '"method" must be'),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1, 2]}, '"params" must be'),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"}, '"params" must be'),
        ({"jsonrpc": "2.0", "method": "n", "params": 3}, '"params" must be'),
        ({"jsonrpc": "2.0", "id": 1}, 'missing "method"'),
        ({"jsonrpc": "2.0"}, 'missing "method"'),
        ({"jsonrpc": "2.0", "result": {}}, 'missing "method"'),
        ({"jsonrpc": "2.0", "id": 1, "result": [1]}, "malformed response"),
        ({"jsonrpc": "2.0", "id": 1, "error": "bad"}, "malformed response"),
    ],
)
def test_invalid_requests(payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_message(payload)
    assert info.value.code == -32600
    assert fragment in info.value.message


# recover_id ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"id": 3, "method": 5}, 3),
        ({"id": "a", "params": []}, "a"),
        ({"id": 0}, 0),
        ({"id": 1.5}, None),
        ({"id": True}, None),
        ({"id": None}, None),
        ({"id": {"x": 1}}, None),
        ({}, None),
        ([{"id": 1}], None),
        ("text", None),
        (None, None),
    ],
)
def test_recover_id(payload: Any, expected: Any) -> None:
    assert recover_id(payload) == expected


# error classes and envelopes -----------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ParseError, -32700),
        (InvalidRequest, -32600),
        (MethodNotFound, -32601),
        (InvalidParams, -32602),
        (InternalError, -32603),
    ],
)
def test_error_codes(cls: type[jsonrpc.JSONRPCError], code: int) -> None:
    error = cls()
    assert error.code == code
    assert error.to_error() == {"code": code, "message": cls.default_message}


def test_error_with_data() -> None:
    error = InvalidParams("bad", data=[{"loc": ["a"]}])
    assert jsonrpc.error_response(4, error) == {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {"code": -32602, "message": "bad", "data": [{"loc": ["a"]}]},
    }


def test_error_response_without_id_is_null() -> None:
    assert jsonrpc.error_response(None, ParseError())["id"] is None


def test_result_response_and_notification() -> None:
    assert jsonrpc.result_response("a", {}) == {"jsonrpc": "2.0", "id": "a", "result": {}}
    assert jsonrpc.notification("n") == {"jsonrpc": "2.0", "method": "n"}
    assert jsonrpc.notification("n", {"x": 1}) == {
        "jsonrpc": "2.0",
        "method": "n",
        "params": {"x": 1},
    }
