"""A small cluster for end-to-end tests: two daphne workers on PostgreSQL and Redis
behind nginx, with no stickiness (``example_project/deploy/nginx.conf.template``).

Import the fixtures into a test module to use them::

    from tests.e2e.cluster import cluster_fixture, pg_database_fixture  # noqa: F401

``cluster`` yields ``(first, second, balancer)``: the two :class:`DaphneServer`
workers (sharing one database, the first one's token) and the :class:`Balancer`,
whose access log tells which worker served each request.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO_ROOT, DaphneServer, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = REPO_ROOT / "example_project" / "deploy" / "nginx.conf.template"
PG = {"host": "127.0.0.1", "user": "postgres"}


@pytest.fixture(name="pg_database")
def pg_database_fixture() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    name = f"mcp_mw_{secrets.token_hex(4)}"
    subprocess.run(["createdb", "-h", PG["host"], "-U", PG["user"], name], check=True)
    try:
        yield name
    finally:
        subprocess.run(
            ["dropdb", "-h", PG["host"], "-U", PG["user"], "--force", "--if-exists", name],
            check=False,
        )


@dataclass
class Balancer:
    port: int
    run_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams_of(self, method: str, path: str) -> list[str]:
        log = (self.run_dir / "access.log").read_text()
        pattern = re.compile(rf"^{method} {re.escape(path)} \d+ upstream=(\S+)$", re.MULTILINE)
        return pattern.findall(log)


def require_nginx() -> None:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: .ci/run installs it (apt-get install nginx)")


def start_balancer(tmp_path: Path, workers: list[DaphneServer]) -> Balancer:
    require_nginx()
    run_dir = tmp_path / "nginx"
    run_dir.mkdir()
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{worker.port};" for worker in workers)
    config = (
        TEMPLATE.read_text()
        .replace("@@RUN_DIR@@", str(run_dir))
        .replace("@@LISTEN_PORT@@", str(port))
        .replace("@@UPSTREAM_SERVERS@@", servers)
    )
    config_path = run_dir / "nginx.conf"
    config_path.write_text(config)
    process = subprocess.Popen(
        [NGINX, "-c", str(config_path), "-p", str(run_dir), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/mcp/health", timeout=1).status_code == 200:
                return Balancer(port, run_dir, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")


@pytest.fixture(name="cluster")
def cluster_fixture(daphne_server: Any, pg_database: str, tmp_path: Path) -> Iterator[Any]:
    env = {
        "EXAMPLE_DB": "postgres",
        "EXAMPLE_PG_NAME": pg_database,
        "EXAMPLE_CHANNEL_LAYER": "redis",
        "EXAMPLE_CHANNEL_PREFIX": f"mw{secrets.token_hex(4)}",
        # Generous: a loaded CI machine must not pass for a dead worker.
        "DJANGO_MCP_ROUTE_TIMEOUT": "3",
    }
    first = daphne_server(**env)
    second = daphne_server(prepare_db=False, token=first.token, **env)
    balancer = start_balancer(tmp_path, [first, second])
    try:
        yield first, second, balancer
    finally:
        balancer.process.terminate()
        balancer.process.wait(timeout=10)
