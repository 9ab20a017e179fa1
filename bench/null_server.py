"""A minimal HTTP+SSE MCP echo server, to measure the load generator's own ceiling.

It does the least a server can: no framework, one asyncio protocol per
connection, uvloop when installed. ``GET /sse`` opens a chunked event stream
and announces ``/messages/?session_id=N``; every POST is answered ``202`` and
its JSON-RPC request is answered on the stream (``echo`` for tools/call, an
empty result otherwise). If the bench drives this faster than any real server,
the real servers' numbers are theirs, not the load generator's.

    python bench/null_server.py --port 8002
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
from datetime import UTC, datetime
from typing import Any

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\n\r\nAccepted"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)

streams: dict[str, asyncio.Transport] = {}
_counter = 0


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def answer(message: dict[str, Any]) -> dict[str, Any]:
    method = message.get("method")
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "null", "version": "1"},
        }
    elif method == "tools/call":
        arguments = message.get("params", {}).get("arguments", {})
        payload = {
            "echo": arguments.get("message"),
            "timestamp": datetime.now(UTC).isoformat(),
            "transport": "sse",
        }
        result = {
            "content": [{"type": "text", "text": json.dumps(payload)}],
            "structuredContent": payload,
            "isError": False,
        }
    else:
        result = {}
    return {"jsonrpc": "2.0", "id": message.get("id"), "result": result}


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: Any = None
        self.session: str | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            streams.pop(self.session, None)

    def data_received(self, data: bytes) -> None:
        global _counter
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].split(b"\r\n")
            method, target, _ = head[0].split(b" ", 2)
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            if method == b"GET":
                _counter += 1
                self.session = str(_counter)
                streams[self.session] = self.transport
                self.transport.write(SSE_HEAD)
                endpoint = f"event: endpoint\ndata: /messages/?session_id={self.session}\n\n"
                self.transport.write(chunk(endpoint.encode()))
                continue
            session = target.partition(b"session_id=")[2].decode()
            stream = streams.get(session)
            if stream is None:
                self.transport.write(NOT_FOUND)
                continue
            self.transport.write(ACCEPTED)
            message = json.loads(body)
            if "id" in message and "method" in message:
                text = json.dumps(answer(message), separators=(",", ":"))
                stream.write(chunk(f"event: message\ndata: {text}\n\n".encode()))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
