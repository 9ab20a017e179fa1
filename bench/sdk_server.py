"""The official MCP Python SDK's own HTTP+SSE server, as the benchmark's reference.

``MCPServer(...).sse_app()`` from the ``mcp`` package on uvicorn, with the same
``echo`` tool as the example project (returns ``{echo, timestamp, transport}``),
no authentication, the stream at ``/sse`` and POSTs at ``/messages/``.

uvicorn runs on the standard asyncio loop with its h11 HTTP parser, which is
what ``pip install mcp`` gives (uvicorn without extras) and what daphne runs on
too; ``--uvicorn-standard`` switches to uvloop + httptools when installed.

    python bench/sdk_server.py --port 8001
"""

from __future__ import annotations

import argparse
import resource
from datetime import UTC, datetime
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("sdk-reference")


@mcp.tool()
def echo(message: str) -> dict[str, Any]:
    """Echo a message back, with the server time and the transport it came over."""
    return {"echo": message, "timestamp": datetime.now(UTC).isoformat(), "transport": "sse"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--uvicorn-standard", action="store_true")
    parser.add_argument("--backlog", type=int, default=2048, help="uvicorn's default")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    app = mcp.sse_app(sse_path="/sse", message_path="/messages/", host=args.host)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="auto" if args.uvicorn_standard else "asyncio",
        http="auto" if args.uvicorn_standard else "h11",
        backlog=args.backlog,
        # uvicorn closes idle keep-alive connections after 5 s by default; the bench
        # reuses its POST connections after idle phases, as daphne allows.
        timeout_keep_alive=3600,
    )


if __name__ == "__main__":
    main()
