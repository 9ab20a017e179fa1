"""The benchmark's load generator parses HTTP/1.1, chunked bodies and SSE correctly.

Unit-level: canned bytes, split at every possible point, plus one in-process
round trip against ``bench/null_server.py``. The benchmark itself is never run
as a test (it is timed, and takes minutes): ``make bench``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bench import loadgen, null_server
from bench.loadgen import ChunkedDecoder, ProtocolError, ResponseReader, SseParser


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return body + b"0\r\n" + trailer + b"\r\n"


def feed_in_pieces(feed: Any, data: bytes, size: int) -> list[Any]:
    out = []
    for start in range(0, len(data), size):
        out.append(feed(data[start : start + size]))
    return out


# --------------------------------------------------------------------------- chunked


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_chunked_decoder_any_split(size: int) -> None:
    payload = [b"event: endpoint\n", b"data: /messages/?session_id=abc\n\n", b"x" * 300]
    wire = chunked(*payload, trailer=b"X-Trailer: yes\r\n") + b"NEXT"
    decoder = ChunkedDecoder()
    decoded = b"".join(feed_in_pieces(decoder.feed, wire, size))
    assert decoded == b"".join(payload)
    assert decoder.done
    assert decoder.rest == b"NEXT"


def test_chunked_decoder_extensions_and_bare_newlines() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5;name=value\r\nhello\r\n3\nabc\n0\n\n") == b"helloabc"
    assert decoder.done


def test_chunked_decoder_rejects_garbage() -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(b"zz\r\nhello\r\n")
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(b"2\r\nhiXX")


# --------------------------------------------------------------------------- SSE

SSE_STREAM = (
    b": ping\n\n"
    b"event: endpoint\r\ndata: /mcp/messages/?session_id=s1\r\n\r\n"
    b'event: message\rdata: {"jsonrpc":"2.0",\rdata: "id":1,"result":{}}\r\r'
    b"data:no space\nid: 7\nretry: 1500\n\n"
    b"event: lonely\n\n"
    b"data\n\n"
    b"event: message\ndata: tail"
)
EXPECTED = [
    ("endpoint", b"/mcp/messages/?session_id=s1"),
    ("message", b'{"jsonrpc":"2.0",\n"id":1,"result":{}}'),
    ("message", b"no space"),
    ("message", b""),
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 10_000])
def test_sse_parser_any_split(size: int) -> None:
    parser = SseParser()
    events = [e for batch in feed_in_pieces(parser.feed, SSE_STREAM, size) for e in batch]
    assert events == EXPECTED
    assert parser.comments == 1
    assert parser.last_event_id == "7"
    assert parser.retry == 1500
    # The unterminated last event is not dispatched until its blank line comes.
    assert parser.feed(b"\n\n") == [("message", b"tail")]


def test_sse_parser_strips_bom_only_at_start() -> None:
    parser = SseParser()
    assert parser.feed(b"\xef\xbb") == []
    assert parser.feed(b"\xbfdata: x\n\n") == [("message", b"x")]
    assert parser.feed(b"\xef\xbb\xbfdata: y\n\n") == []  # a field named BOM+data: ignored


def test_sse_event_message_json_parses() -> None:
    message = {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "a\nb"}]}}
    frame = b"event: message\ndata: " + json.dumps(message).encode() + b"\n\n"
    [(name, data)] = SseParser().feed(frame)
    assert name == "message"
    assert json.loads(data) == message


# --------------------------------------------------------------------------- HTTP responses


def test_response_reader_content_length_keep_alive() -> None:
    reader = ResponseReader("POST")
    wire = b"HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\nX-A: 1\r\n\r\nAcceptedHTTP/1.1"
    rest = b"".join(feed_in_pieces(reader.feed, wire, 3))
    assert reader.done and reader.status == 202 and reader.keep_alive
    assert b"".join(reader.body) == b"Accepted"
    assert reader.headers["x-a"] == "1"
    assert rest == b"HTTP/1.1"


def test_response_reader_empty_body_and_connection_close() -> None:
    reader = ResponseReader("POST")
    reader.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert reader.done and reader.status == 404 and not reader.keep_alive


def test_response_reader_skips_interim_response() -> None:
    reader = ResponseReader("POST")
    reader.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    assert reader.done and reader.status == 202


@pytest.mark.parametrize("size", [1, 4, 64, 100_000])
def test_sse_response_end_to_end(size: int) -> None:
    """A whole GET response, as daphne or uvicorn send it, through reader and parser."""
    parser = SseParser()
    events: list[tuple[str, bytes]] = []
    reader = ResponseReader("GET", on_body=lambda data: events.extend(parser.feed(data)))
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
        b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = chunked(
        b"event: endpoint\ndata: /mcp/messages/?session_id=s1\n\n",
        b": ping\n\n",
        b'event: message\ndata: {"jsonrpc":"2.0","id":1,',
        b'"result":{"ok":true}}\n\n',
    )
    feed_in_pieces(reader.feed, head + body, size)
    assert reader.status == 200
    assert reader.headers["content-type"].startswith("text/event-stream")
    assert reader.done
    assert events == [
        ("endpoint", b"/mcp/messages/?session_id=s1"),
        ("message", b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}'),
    ]


def test_bad_status_line() -> None:
    with pytest.raises(ProtocolError):
        ResponseReader().feed(b"SPDY/3 200 OK\r\n\r\n")


# --------------------------------------------------------------------------- summary


def test_summarize_percentiles() -> None:
    stats = loadgen.summarize([i / 1000 for i in range(1, 101)])
    assert stats["p50_ms"] == 50.0
    assert stats["p99_ms"] == 99.0
    assert stats["max_ms"] == 100.0
    assert loadgen.summarize([])["p50_ms"] is None


def test_count_5xx() -> None:
    assert loadgen.count_5xx({"ok": 9, "http_502": 2, "http_404": 1}) == 2
    assert loadgen.count_5xx({"SessionError: GET /mcp/sse answered 500": 3}) == 3


# --------------------------------------------------------------------------- a round trip


async def test_session_against_null_server() -> None:
    """Open, initialize and call through real sockets (the bench's do-nothing server)."""
    null_server.streams.clear()
    server = await asyncio.get_running_loop().create_server(null_server.Connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = loadgen.Client(loadgen.Target("null", "127.0.0.1", port, "/sse"), post_connections=2)
    try:
        session = loadgen.McpSession(client)
        await session.open(timeout=10)
        assert session.initialize_result is not None
        assert session.initialize_result["protocolVersion"] == "2024-11-05"
        results = await asyncio.gather(
            *(session.call_tool("echo", {"message": f"m{i}"}, timeout=10) for i in range(5))
        )
        for i, (outcome, response, latency) in enumerate(results):
            assert outcome == "ok"
            assert loadgen.check_echo(response, f"m{i}")
            assert latency >= 0
        assert client.stats.unmatched == 0
        assert client.pool.opened <= 2
    finally:
        client.close()
        server.close()
        await server.wait_closed()
