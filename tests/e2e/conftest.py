"""Fixtures for the end-to-end tests: real daphne processes serving ``example_project``.

These tests talk HTTP only. They never touch pytest-django's test database: each
server gets its own database (a fresh SQLite file by default), prepared with
``manage.py migrate`` and ``manage.py demo_setup``.

Fixtures
--------
``server``
    Session-scoped default server (SQLite, in-memory channel layer). Use it unless a
    test needs a special configuration.
``daphne_server``
    Factory ``daphne_server(**env) -> DaphneServer`` for special configurations; the
    servers it starts are stopped when the test ends. Keyword arguments in UPPER case
    are environment variables for the server (values are converted with ``str``), e.g.
    ``daphne_server(DJANGO_MCP_HEARTBEAT_INTERVAL=0.5)`` or
    ``daphne_server(EXAMPLE_DB="postgres", EXAMPLE_CHANNEL_LAYER="redis")``.
    Lower-case keyword arguments are options:

    ``prepare_db`` (default True)
        run ``migrate`` and ``demo_setup`` first and take the token from its last line.
    ``token``
        the API token to expose as ``.token`` (for a server that reuses another
        server's database with ``prepare_db=False``).
    ``startup_timeout`` (default 30)
        seconds to wait for ``GET /mcp/health`` to answer 200.

    A second worker on the same database as ``first``::

        second = daphne_server(
            prepare_db=False,
            token=first.token,
            EXAMPLE_SQLITE_PATH=first.env["EXAMPLE_SQLITE_PATH"],
        )

``inspector_cli``
    Runs the MCP Inspector CLI (Node 22 from ``node_modules``, installed by
    ``npm ci`` / ``make node``). Skipped when ``node_modules`` is missing, unless the
    environment variable ``CI`` is set, in which case it fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO_ROOT / "example_project"
MANAGE_PY = EXAMPLE_DIR / "manage.py"
NODE_MODULES = REPO_ROOT / "node_modules"
NODE_BIN = NODE_MODULES / ".bin" / "node"
INSPECTOR_CLI_JS = (
    NODE_MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "cli" / "build" / "index.js"
)
MIN_NODE = (22, 19)

HEALTH_PATH = "/mcp/health"
SSE_PATH = "/mcp/sse"

# Defaults for every server; anything passed to the factory wins.
DEFAULT_SERVER_ENV: dict[str, str] = {
    "EXAMPLE_DB": "sqlite",
    "EXAMPLE_CHANNEL_LAYER": "memory",
}

# Variables of the test process that must not leak into the example project.
# (pytest-django puts DJANGO_SETTINGS_MODULE=tests.settings into os.environ.)
_DROP_FROM_ENV = ("DJANGO_SETTINGS_MODULE", "DJANGO_CONFIGURATION")

MANAGE_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e as ``e2e`` (select with ``-m e2e`` / ``-m 'not e2e'``)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 20_000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no output file>"
    if len(text) > limit:
        return "...\n" + text[-limit:]
    return text


def _require_example_project() -> None:
    if not MANAGE_PY.is_file():
        pytest.fail(f"example project not found: {MANAGE_PY} is missing")


def _server_env(overrides: dict[str, str], sqlite_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_FROM_ENV}
    env.update(DEFAULT_SERVER_ENV)
    env["EXAMPLE_SQLITE_PATH"] = str(sqlite_path)
    env.update(overrides)
    env["DJANGO_SETTINGS_MODULE"] = overrides.get("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PYTHONUNBUFFERED"] = "1"
    # The example project imports ``config``/``library`` from its own folder and
    # ``django_mcp`` from the repo root (whether or not it is pip-installed).
    python_path = [str(EXAMPLE_DIR), str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    return env


def run_manage(
    env: dict[str, str], *args: str, timeout: float = MANAGE_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``python manage.py ARGS`` in the example project; fail the test with its output."""
    _require_example_project()
    cmd = [sys.executable, str(MANAGE_PY), *args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=EXAMPLE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`manage.py {' '.join(args)}` timed out after {timeout}s\n{exc.stderr or ''}")
    if proc.returncode != 0:
        pytest.fail(
            f"`manage.py {' '.join(args)}` exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output")
    return lines[-1]


@dataclass
class DaphneServer:
    """A running ``daphne config.asgi:application`` for the example project."""

    port: int
    token: str | None
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    workdir: Path
    stdout_path: Path
    stderr_path: Path
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sse_url(self) -> str:
        return self.base_url + SSE_PATH

    @property
    def auth_headers(self) -> dict[str, str]:
        if not self.token:
            raise RuntimeError("this server has no token (prepare_db=False and no token=)")
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def manage(
        self, *args: str, timeout: float = MANAGE_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a management command against this server's database and settings."""
        return run_manage(self.env, *args, timeout=timeout)

    def create_token(self, username: str) -> str:
        """``manage.py mcp_create_token USERNAME``; returns the raw token (its last line)."""
        return last_line(self.manage("mcp_create_token", username).stdout)

    def stderr_text(self) -> str:
        return _tail(self.stderr_path, limit=1_000_000)

    def stdout_text(self) -> str:
        return _tail(self.stdout_path, limit=1_000_000)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def _wait_healthy(server: DaphneServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                code = server.process.returncode
                raise RuntimeError(f"daphne exited with code {code} before it was healthy")
            try:
                response = client.get(server.url(HEALTH_PATH))
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}: {response.text[:500]}"
            time.sleep(0.1)
    raise TimeoutError(f"GET {HEALTH_PATH} not 200 within {timeout}s (last: {last_error})")


class DaphneLauncher:
    """Starts example-project servers and remembers them for teardown."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, label: str) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._label = label
        self._servers: list[DaphneServer] = []

    def start(
        self,
        *,
        prepare_db: bool = True,
        token: str | None = None,
        startup_timeout: float = 30.0,
        **env: Any,
    ) -> DaphneServer:
        _require_example_project()
        bad = [name for name in env if not name.isupper()]
        if bad:
            raise TypeError(f"unknown option(s) {bad}; environment variables must be UPPER_CASE")
        workdir = self._tmp_path_factory.mktemp(self._label)
        overrides = {name: str(value) for name, value in env.items()}
        server_env = _server_env(overrides, workdir / "db.sqlite3")

        if prepare_db:
            run_manage(server_env, "migrate", "--noinput", "-v", "0")
            setup = run_manage(server_env, "demo_setup")
            try:
                demo_token = last_line(setup.stdout)
            except ValueError:
                pytest.fail(f"demo_setup printed nothing on stdout\n--- stderr ---\n{setup.stderr}")
            if token is None:
                token = demo_token

        port = free_port()
        stdout_path = workdir / "daphne.stdout.log"
        stderr_path = workdir / "daphne.stderr.log"
        cmd = [
            sys.executable,
            "-m",
            "daphne",
            "-v",
            "0",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ]
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                cmd,
                cwd=EXAMPLE_DIR,
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        server = DaphneServer(
            port=port,
            token=token,
            process=process,
            env=server_env,
            workdir=workdir,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )
        self._servers.append(server)
        problem = None
        try:
            _wait_healthy(server, startup_timeout)
        except (RuntimeError, TimeoutError) as exc:
            problem = str(exc)
        if problem is not None:
            server.stop()
            pytest.fail(
                f"daphne on port {port} did not become healthy: {problem}\n"
                f"command: {' '.join(cmd)}\n"
                f"--- daphne stderr ---\n{_tail(stderr_path)}\n"
                f"--- daphne stdout ---\n{_tail(stdout_path)}"
            )
        return server

    def stop_all(self) -> None:
        while self._servers:
            self._servers.pop().stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    """The default example-project server (SQLite, in-memory layer), shared by the session."""
    launcher = DaphneLauncher(tmp_path_factory, "daphne-session")
    try:
        yield launcher.start()
    finally:
        launcher.stop_all()


@pytest.fixture
def daphne_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., DaphneServer]]:
    """Factory for servers with a special configuration; they stop when the test ends."""
    launcher = DaphneLauncher(tmp_path_factory, "daphne")
    try:
        yield launcher.start
    finally:
        launcher.stop_all()


# --------------------------------------------------------------------------- Inspector CLI


class InspectorError(AssertionError):
    pass


@dataclass
class InspectorCLI:
    """The MCP Inspector CLI, run with Node 22 from node_modules."""

    node: Path
    entry: Path
    home: Path
    node_version: str

    def command(
        self,
        server: DaphneServer,
        *args: str,
        token: str | None = None,
        output_format: str = "json",
        transport: str = "sse",
    ) -> list[str]:
        """The full command line for ``args`` against ``server``'s SSE endpoint, or
        its Streamable HTTP endpoint with ``transport="http"``."""
        bearer = token if token is not None else server.token
        return [
            str(self.node),
            str(self.entry),
            "--transport",
            transport,
            "--server-url",
            server.sse_url if transport == "sse" else server.url("/mcp"),
            "--header",
            f"Authorization: Bearer {bearer}",
            "--format",
            output_format,
            # Never fall into interactive OAuth after a 401: report auth_required instead.
            "--stored-auth-only",
            "--connect-timeout",
            "15000",
            *args,
        ]

    def run(
        self,
        server: DaphneServer,
        *args: str,
        token: str | None = None,
        output_format: str = "json",
        timeout: float = 60.0,
        transport: str = "sse",
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROP_FROM_ENV}
        # The CLI keeps a catalog and OAuth state under ~/.mcp-inspector: keep it out of $HOME.
        env["HOME"] = str(self.home)
        env["NO_COLOR"] = "1"
        env.pop("FORCE_COLOR", None)
        cmd = self.command(
            server, *args, token=token, output_format=output_format, transport=transport
        )
        return subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_json(
        self, server: DaphneServer, *args: str, timeout: float = 60.0, transport: str = "sse"
    ) -> Any:
        """Run with ``--format json``; return the ``result`` object, failing on any error."""
        proc = self.run(server, *args, timeout=timeout, transport=transport)
        described = (
            f"inspector {' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
            f"--- daphne stderr ---\n{_tail(server.stderr_path, 5_000)}"
        )
        if proc.returncode != 0:
            raise InspectorError(described)
        try:
            payload = json.loads(last_line(proc.stdout))
        except ValueError as exc:
            raise InspectorError(f"output is not JSON ({exc})\n{described}") from exc
        if not isinstance(payload, dict) or "result" not in payload:
            raise InspectorError(f"no 'result' in output\n{described}")
        return payload["result"]


def _node_version(node: Path) -> tuple[str, tuple[int, int]]:
    out = subprocess.run(
        [str(node), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    match = re.match(r"v(\d+)\.(\d+)", out)
    if not match:
        raise ValueError(f"unexpected `node --version` output: {out!r}")
    return out, (int(match.group(1)), int(match.group(2)))


@pytest.fixture(scope="session")
def inspector_cli(tmp_path_factory: pytest.TempPathFactory) -> InspectorCLI:
    """Node 22 + the MCP Inspector CLI from ``node_modules`` (``npm ci`` / ``make node``)."""
    missing = [str(p) for p in (NODE_BIN, INSPECTOR_CLI_JS) if not p.exists()]
    if missing:
        message = (
            "MCP Inspector CLI not installed (missing: "
            + ", ".join(missing)
            + "); run `make node` (npm ci) at the repository root"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        version, parsed = _node_version(NODE_BIN)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        pytest.fail(f"cannot run {NODE_BIN}: {exc}")
    if parsed < MIN_NODE:
        pytest.fail(
            f"{NODE_BIN} is {version}; the Inspector needs >= v{MIN_NODE[0]}.{MIN_NODE[1]} "
            "(reinstall with `npm ci`)"
        )
    home = tmp_path_factory.mktemp("inspector-home")
    return InspectorCLI(node=NODE_BIN, entry=INSPECTOR_CLI_JS, home=home, node_version=version)
