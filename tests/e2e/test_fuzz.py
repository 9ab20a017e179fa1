"""Fuzzing the MCP endpoints over real HTTP: hostile messages against a real daphne.

Hypothesis generates the messages (``DJANGO_MCP_FUZZ_CASES``, default 10,000):
JSON of the wrong shape, JSON-RPC envelopes with wrong types, known methods with
junk parameters, deep nesting, huge strings, invalid UTF-8, wrong and duplicate
ids, batches of junk, truncated and oversized bodies, and requests on sessions
that never sent ``initialize``. They are POSTed concurrently to eight sessions.

For every POST: no 5xx; 202, or 400 with a JSON-RPC parse error, or 413.
For every accepted message: each request with a valid id gets exactly one
well-formed JSON-RPC response with that id on its session's stream (and each
malformed message without one gets a response with a null id); no response is
an internal error (-32603). Afterwards every fuzzed stream still answers a ping,
and a control session of another user, calling a tool throughout, was never
disturbed. The run's figures are printed (docs/security.md records them):

    DJANGO_MCP_FUZZ_CASES=10000 .venv/bin/python -m pytest tests/e2e/test_fuzz.py -s
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import DaphneLauncher, DaphneServer
from .helpers import WAIT, bearer

pytestmark = pytest.mark.e2e

CASES = int(os.environ.get("DJANGO_MCP_FUZZ_CASES", "10000"))
PER_EXAMPLE = 50
CONCURRENCY = 24
SESSIONS = 8
#: Sessions 0-3 are initialized before the run; 4-7 never are (unless fuzzed into it).
INITIALIZED = range(4)
MAX_BODY = 4 * 1024 * 1024
MAX_DEPTH = 64
#: JSON-RPC error codes a well-formed answer may carry.
CODES = {-32700, -32600, -32601, -32602, -32002}
#: The ids that fuzzed cancellations name; no fuzzed request uses them, so a
#: cancellation never silences a request the oracle waits for.
CANCEL_TARGETS = ["cancel-target", -987654321]


# What the server must answer ---------------------------------------------------------------


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _key(request_id: Any) -> tuple[str, Any]:
    """A hashable id that keeps 1 and "1" apart."""
    return (type(request_id).__name__, request_id)


def expected_replies(item: Any) -> tuple[list[tuple[str, Any]], int]:
    """(ids that must be answered, count of answers with a null id) for one message,
    by the JSON-RPC 2.0 rules: requests are answered, notifications and responses
    are not, and a malformed message is answered with its id when it has a valid one."""
    if not isinstance(item, dict):
        return [], 1
    request_id = item.get("id")
    answer = ([_key(request_id)], 0) if _valid_id(request_id) else ([], 1)
    if item.get("jsonrpc") != "2.0" or ("id" in item and not _valid_id(request_id)):
        return answer
    if "method" in item:
        method, params = item["method"], item.get("params")
        if not isinstance(method, str) or not method:
            return answer
        if params is not None and not isinstance(params, dict):
            return answer
        return answer if "id" in item else ([], 0)
    if "id" in item and ("result" in item or "error" in item):
        result, error = item.get("result"), item.get("error")
        if (result is None or isinstance(result, dict)) and (
            error is None or isinstance(error, dict)
        ):
            return [], 0  # a response to the server: nothing to answer
    return answer


def expected_for(payload: Any) -> tuple[list[tuple[str, Any]], int]:
    if isinstance(payload, list):
        if not payload:
            return [], 1
        ids: list[tuple[str, Any]] = []
        nulls = 0
        for item in payload:
            item_ids, item_nulls = expected_replies(item)
            ids += item_ids
            nulls += item_nulls
        return ids, nulls
    return expected_replies(payload)


def well_formed(reply: Any) -> str | None:
    """Why ``reply`` is not a well-formed JSON-RPC response, or None."""
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0" or "id" not in reply:
        return "not a JSON-RPC 2.0 response"
    if not (_valid_id(reply["id"]) or reply["id"] is None):
        return "bad id"
    if ("result" in reply) == ("error" in reply):
        return "needs exactly one of result and error"
    if "result" in reply:
        return None if isinstance(reply["result"], dict) else "result is not an object"
    error = reply["error"]
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return "error without a message"
    if error.get("code") not in CODES:
        return f"unexpected error code {error.get('code')!r}"
    return None


# Hostile messages --------------------------------------------------------------------------

KNOWN_METHODS = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "no/such/method",
    "",
    "rpc.discover",
]
# Tools the fuzzer may call: none of them waits on the client (sampling,
# elicitation) or runs long, so every call is answered promptly.
TOOL_NAMES = ["echo", "server_time", "lend_book", "books_search", "books_get", "no_such_tool"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Mostly tens of kilobytes; one in ten between 0.3 and 0.7 million characters
# (up to 2.5 MB once JSON escapes the accents).
huge_text = (
    st.sampled_from([(10_000, 50_000)] * 9 + [(300_000, 700_000)])
    .flatmap(lambda bounds: st.integers(*bounds))
    .map(lambda n: "\u00e9A" * (n // 2))
)
ids = st.one_of(
    st.integers(min_value=1, max_value=10**9).map(lambda n: f"r{n}"),
    st.sampled_from([0, 1, "dup", "", -1, 10**30, -(10**30), 2**63]),
    st.integers(min_value=10_000, max_value=100_000).map(lambda n: "i" * n),
    st.sampled_from([None, True, False, 1.5, [], {}, [1], {"id": 1}, float("nan")]),
)


def envelope(
    method: st.SearchStrategy[Any], params: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "id": ids, "method": method},
        optional={"params": params},
    )


tool_call_params = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(TOOL_NAMES), junk),
        "arguments": st.one_of(
            junk,
            st.fixed_dictionaries(
                {},
                optional={
                    "message": st.one_of(st.text(max_size=50), junk),
                    "timezone": st.one_of(st.sampled_from(["UTC", "Nowhere/Else", ""]), junk),
                    "book_id": st.one_of(st.integers(), junk),
                    "days": junk,
                },
            ),
        ),
        "_meta": junk,
    },
)
known_requests = st.one_of(
    envelope(
        st.sampled_from(KNOWN_METHODS), st.one_of(junk, st.dictionaries(st.text(max_size=8), junk))
    ),
    envelope(st.just("tools/call"), tool_call_params),
    envelope(
        st.just("initialize"),
        st.fixed_dictionaries(
            {},
            optional={
                "protocolVersion": st.one_of(
                    st.sampled_from(["2024-11-05", "2025-11-25", "1999"]), junk
                ),
                "capabilities": junk,
                "clientInfo": junk,
            },
        ),
    ),
    envelope(
        st.just("tools/list"),
        st.fixed_dictionaries({}, optional={"cursor": st.one_of(st.text(max_size=12), junk)}),
    ),
)
wrong_envelopes = st.dictionaries(
    st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "extra"]),
    st.one_of(junk, st.sampled_from(["2.0", "1.0", "ping", "tools/list"])),
    max_size=6,
)
notifications = st.one_of(
    st.fixed_dictionaries(
        {
            "jsonrpc": st.just("2.0"),
            "method": st.sampled_from(
                [
                    "notifications/initialized",
                    "notifications/cancelled",
                    "notifications/progress",
                    "x/y",
                ]
            ),
        },
        optional={
            "params": st.fixed_dictionaries(
                {}, optional={"requestId": st.sampled_from(CANCEL_TARGETS), "reason": junk}
            )
        },
    ),
)
responses = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "id": ids}, optional={"result": junk, "error": junk}
)
messages = st.one_of(
    known_requests, known_requests, wrong_envelopes, notifications, responses, junk
)


def _nest(depth: int, kind: str) -> str:
    inner = '"x"'
    if kind == "list":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(kind, body) of one POST."""
    kind = draw(
        st.sampled_from(
            ["message"] * 6
            + ["batch"] * 2
            + ["deep", "huge", "bad-utf8", "binary", "text", "truncated", "deep-request"]
            + ["oversize"] * (1 if draw(st.integers(0, 19)) == 0 else 0)
        )
    )
    if kind == "message":
        return kind, json.dumps(draw(messages)).encode()
    if kind == "batch":
        items = draw(st.lists(messages, max_size=12))
        return kind, json.dumps(items).encode()
    if kind == "deep":
        depth = draw(st.one_of(st.integers(1, 2 * MAX_DEPTH), st.integers(1000, 50_000)))
        return kind, _nest(depth, draw(st.sampled_from(["list", "dict"]))).encode()
    if kind == "deep-request":
        depth = draw(st.integers(MAX_DEPTH - 4, MAX_DEPTH + 4))
        message = {"jsonrpc": "2.0", "id": draw(ids), "method": "tools/call"}
        text = json.dumps(message)[:-1] + ', "params": ' + _nest(depth - 1, "dict") + "}"
        return kind, text.encode()
    if kind == "huge":
        where = draw(st.sampled_from(["method", "id", "param", "name"]))
        text = draw(huge_text)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": draw(ids), "method": "tools/call"}
        if where == "method":
            message["method"] = text
        elif where == "id":
            message["id"] = text
        elif where == "param":
            message["params"] = {"name": "echo", "arguments": {"message": text}}
        else:
            message["params"] = {"name": text}
        return kind, json.dumps(message, ensure_ascii=draw(st.booleans())).encode()
    if kind == "bad-utf8":
        body = json.dumps(draw(known_requests)).encode()
        position = draw(st.integers(0, len(body)))
        garbage = draw(
            st.sampled_from(
                [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf8\x88\x80\x80\x80"]
            )
        )
        return kind, body[:position] + garbage + body[position:]
    if kind == "binary":
        return kind, draw(st.binary(max_size=200))
    if kind == "text":
        return kind, draw(st.text(max_size=200)).encode()
    if kind == "truncated":
        body = json.dumps(draw(known_requests)).encode()
        return kind, body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    size = MAX_BODY + draw(st.integers(1, 1000))
    return kind, b"[" + b" " * (size - 2) + b"]"


content_types = st.sampled_from(
    ["application/json"] * 6
    + ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)
cases = st.tuples(st.integers(0, SESSIONS - 1), bodies(), content_types)


# Streams -----------------------------------------------------------------------------------


@dataclass
class Stream:
    """One SSE stream, its replies counted as they arrive."""

    base_url: str
    headers: dict[str, str]
    endpoint: str = ""
    ids: Counter[tuple[str, Any]] = field(default_factory=Counter)
    nulls: int = 0
    malformed: list[Any] = field(default_factory=list)
    internal_errors: list[Any] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    before_initialize: int = 0
    results: dict[Any, Any] = field(default_factory=dict)
    ended: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _client: httpx.AsyncClient | None = None

    async def open(self) -> Stream:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(WAIT, read=None)
        )
        self._task = asyncio.create_task(self._read())
        await self.wait(lambda: bool(self.endpoint) or self.ended)
        assert self.endpoint, "no endpoint event"
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _read(self) -> None:
        assert self._client is not None
        try:
            async with self._client.stream("GET", "/mcp/sse", headers=self.headers) as response:
                assert response.status_code == 200
                name, data = "message", []
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif line == "" and data:
                        self._event(name, "\n".join(data))
                        name, data = "message", []
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True
            self._changed.set()

    def _event(self, name: str, data: str) -> None:
        if name == "endpoint":
            self.endpoint = data
        elif name == "message":
            message = json.loads(data)
            for item in message if isinstance(message, list) else [message]:
                if isinstance(item, dict) and "method" in item:
                    continue  # a notification or a request from the server
                problem = well_formed(item)
                if problem:
                    self.malformed.append((problem, item))
                    continue
                if "error" in item:
                    self.codes[item["error"]["code"]] += 1
                    if "not initialized" in item["error"]["message"]:
                        self.before_initialize += 1
                if "error" in item and item["error"].get("code") == -32603:
                    self.internal_errors.append(item)
                if item["id"] is None:
                    self.nulls += 1
                else:
                    self.ids[_key(item["id"])] += 1
                    self.results[_key(item["id"])] = item
        self._changed.set()

    async def wait(self, predicate: Callable[[], bool], seconds: float = WAIT) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def post(
        self, poster: Poster, body: bytes, content_type: str = "application/json"
    ) -> Reply:
        return await poster.post(
            self.endpoint, body, {"Content-Type": content_type, **self.headers}
        )

    async def call(self, poster: Poster, request_id: str, method: str, params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        response = await self.post(poster, body.encode())
        assert response.status == 202, response.text
        await self.wait(lambda: _key(request_id) in self.results or self.ended)
        return self.results[_key(request_id)]


# A lean HTTP client for the fuzzed POSTs ----------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection. httpx costs the client more CPU per request
    than the server spends answering it; this keeps the run about the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, host: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        try:
            self.writer.write(body)
            await self.writer.drain()
        except ConnectionError:
            pass  # the server may answer (413) and close before reading it all
        return await self.read_reply()

    async def read_reply(self) -> Reply:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(chunk[:-2] for chunk in chunks)
        elif "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        else:
            # No length: the body runs to the end of the connection (Twisted's
            # bare "400 Bad Request" is such a response).
            body = await self.reader.read()
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, body)

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class Poster:
    """A pool of connections; a connection the server closed is replaced."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[Connection] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        connection = self._idle.pop() if self._idle else None
        if connection is None or connection.closed:
            connection = await Connection.open(self.host, self.port)
        try:
            reply = await connection.post(f"{self.host}:{self.port}", path, body, headers)
        except BaseException:
            connection.close()
            raise
        if not connection.closed:
            self._idle.append(connection)
        return reply

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


# The run -----------------------------------------------------------------------------------


@dataclass
class Run:
    loop: asyncio.AbstractEventLoop
    client: Poster
    streams: list[Stream]
    control: Stream
    expected_ids: list[Counter[tuple[str, Any]]]
    expected_nulls: list[int]
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    sent: int = 0
    control_calls: int = 0
    bare_multipart_400: int = 0
    kind_statuses: Counter[str] = field(default_factory=Counter)

    async def send(
        self,
        session: int,
        kind: str,
        body: bytes,
        content_type: str,
        semaphore: asyncio.Semaphore,
    ) -> None:
        try:
            async with semaphore:
                response = await self.streams[session].post(self.client, body, content_type)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            # Reported with the others at the end: a failure inside a Hypothesis
            # example would make it print the (multi-megabyte) example instead.
            self.problems.append(f"{kind}: {exc!r} for {content_type!r} {body[:200]!r}")
            return
        self.sent += 1
        self.kinds[kind] += 1
        self.statuses[response.status] += 1
        self.kind_statuses[f"{kind} {response.status}"] += 1
        status = response.status
        if status >= 500 or status not in (202, 400, 413):
            self.problems.append(
                f"{kind}: HTTP {status} {response.text[:300]!r} for {body[:200]!r}"
            )
            return
        if status == 202:
            try:
                payload = json.loads(body)
            except ValueError:
                self.problems.append(f"{kind}: 202 for a body that is not JSON: {body[:200]!r}")
                return
            ids, nulls = expected_for(payload)
            self.expected_ids[session].update(ids)
            self.expected_nulls[session] += nulls
        elif status == 400 and not response.body and content_type.startswith("multipart/"):
            # Twisted's own form parsing would answer a malformed multipart body
            # with a bare 400; django_mcp turns that parsing off under daphne
            # (django_mcp.transports.daphne), so there must be none.
            self.bare_multipart_400 += 1
        elif status == 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {}
            if error.get("code") != -32700:
                self.problems.append(f"{kind}: 400 without a parse error: {response.text[:300]}")
        elif len(body) <= MAX_BODY:
            self.problems.append(f"{kind}: 413 for {len(body)} bytes")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    launcher = DaphneLauncher(tmp_path_factory, "daphne-fuzz")
    try:
        yield launcher.start(DJANGO_MCP_RATE_LIMIT="none", DJANGO_MCP_MAX_SESSIONS_PER_USER="none")
    finally:
        launcher.stop_all()


@pytest.fixture
def run(fuzz_server: DaphneServer) -> Iterator[Run]:
    loop = asyncio.new_event_loop()
    control_token = fuzz_server.create_token("admin")
    assert fuzz_server.token is not None

    async def start() -> Run:
        client = Poster(fuzz_server.host, fuzz_server.port)
        streams = [
            await Stream(fuzz_server.base_url, bearer(fuzz_server.token or "")).open()
            for _ in range(SESSIONS)
        ]
        for index in INITIALIZED:
            await initialize(client, streams[index], f"init-{index}")
        control = await Stream(fuzz_server.base_url, bearer(control_token)).open()
        await initialize(client, control, "control-init")
        expected: list[Counter[tuple[str, Any]]] = [Counter() for _ in streams]
        for index in INITIALIZED:
            expected[index][_key(f"init-{index}")] += 1
        return Run(loop, client, streams, control, expected, [0] * SESSIONS)

    state = loop.run_until_complete(start())
    try:
        yield state
    finally:

        async def stop() -> None:
            for stream in [*state.streams, state.control]:
                await stream.close()
            state.client.close()

        loop.run_until_complete(stop())
        loop.close()


async def initialize(client: Poster, stream: Stream, request_id: str) -> None:
    params = {
        "protocolVersion": "2024-11-05",
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"},
    }
    reply = await stream.call(client, request_id, "initialize", params)
    assert "result" in reply, reply
    response = await stream.post(
        client, b'{"jsonrpc": "2.0", "method": "notifications/initialized"}'
    )
    assert response.status == 202


async def control_call(run: Run, number: int) -> None:
    """A good call on the control session: its answer is exactly right."""
    message = f"control {number} \u2713"
    reply = await run.control.call(
        run.client,
        f"control-{number}",
        "tools/call",
        {"name": "echo", "arguments": {"message": message}},
    )
    run.control_calls += 1
    assert reply["result"]["structuredContent"]["echo"] == message, reply


examples = max(1, math.ceil(CASES / PER_EXAMPLE))


@pytest.mark.timeout(900)
def test_fuzzed_messages_never_break_the_server(run: Run, fuzz_server: DaphneServer) -> None:
    started = time.monotonic()
    counter = iter(range(10**9))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(cases, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def fuzz(batch: list[tuple[int, tuple[str, bytes], str]]) -> None:
        async def send_all() -> None:
            semaphore = asyncio.Semaphore(CONCURRENCY)
            await asyncio.gather(
                *(
                    run.send(session, kind, body, content_type, semaphore)
                    for session, (kind, body), content_type in batch
                ),
                control_call(run, next(counter)),
            )

        try:
            run.loop.run_until_complete(send_all())
        except Exception:
            # Reported at the end: raising here would make Hypothesis print the
            # (multi-megabyte) example.
            run.problems.append(traceback.format_exc(limit=-6))

    fuzz()
    sending = time.monotonic() - started

    async def settle() -> None:
        for index, stream in enumerate(run.streams):
            expected_ids, expected_nulls = run.expected_ids[index], run.expected_nulls[index]

            def complete(
                stream: Stream = stream,
                ids: Counter[Any] = expected_ids,
                nulls: int = expected_nulls,
            ) -> bool:
                return stream.ended or (
                    sum(stream.ids.values()) >= sum(ids.values()) and stream.nulls >= nulls
                )

            with contextlib.suppress(TimeoutError):
                await stream.wait(complete, seconds=60)
        # Every fuzzed stream is alive and answers; the control session still works.
        for index, stream in enumerate(run.streams):
            pong = await stream.call(run.client, f"alive-{index}", "ping", {})
            assert pong == {"jsonrpc": "2.0", "id": f"alive-{index}", "result": {}}
            run.expected_ids[index][_key(f"alive-{index}")] += 1
        await control_call(run, 10**9)

    run.loop.run_until_complete(settle())
    elapsed = time.monotonic() - started

    print(
        f"\nfuzz: {run.sent} cases in {elapsed:.1f}s ({sending:.1f}s sending); "
        f"statuses {dict(sorted(run.statuses.items()))}; kinds {dict(sorted(run.kinds.items()))}; "
        f"replies {sum(sum(s.ids.values()) + s.nulls for s in run.streams)}; "
        f"error codes {dict(sum((s.codes for s in run.streams), Counter()))}; "
        f"refused before initialize {sum(s.before_initialize for s in run.streams)}; "
        f"bare multipart 400s from Twisted {run.bare_multipart_400}; "
        f"by kind {dict(sorted(run.kind_statuses.items()))}; "
        f"control calls {run.control_calls}; problems {len(run.problems)}"
    )
    assert not run.problems, "\n".join(run.problems[:20])
    assert run.bare_multipart_400 == 0
    assert run.sent >= CASES
    for index, stream in enumerate(run.streams):
        assert not stream.ended, f"stream {index} ended"
        assert not stream.malformed, stream.malformed[:5]
        assert not stream.internal_errors, stream.internal_errors[:5]
        missing = run.expected_ids[index] - stream.ids
        extra = stream.ids - run.expected_ids[index]
        assert not missing, f"session {index}: no reply to {list(missing.items())[:10]}"
        assert not extra, f"session {index}: unexpected replies to {list(extra.items())[:10]}"
        assert stream.nulls == run.expected_nulls[index], (
            index,
            stream.nulls,
            run.expected_nulls[index],
        )
    assert not run.control.ended and not run.control.malformed
    assert fuzz_server.is_running()
    assert "Unhandled error in MCP method" not in fuzz_server.stderr_text()
