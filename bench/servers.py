"""Servers under test: start, pin, measure (RSS, CPU) and stop them.

Every process started here is this benchmark's own child; nothing else on the
machine is touched (Redis and PostgreSQL are only used as clients, and only a
dedicated database, ``mcp_bench`` by default, is dropped and re-created).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
# Where the servers' code (django_mcp/ and example_project/) comes from: the work
# tree, or a snapshot of a git revision (``use_revision``).
SOURCE = REPO
NGINX_TEMPLATE = BENCH / "nginx.conf.tmpl"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Environment of every example-project server; the run adds the database and layer.
SERVER_ENV: dict[str, str] = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_DEBUG": "0",
    # No heartbeat writes during the measurements (the idle test would see them as noise).
    "DJANGO_MCP_HEARTBEAT_INTERVAL": "30",
    "PYTHONUNBUFFERED": "1",
}
# Settings that may limit a load test, by the environment variable the example
# project reads (if it does): set high so that the benchmark measures speed.
LIMIT_ENV: dict[str, str] = {
    "DJANGO_MCP_RATE_LIMIT": "1000000000",  # messages per minute: on, but never reached
}
# MAX_SESSIONS_PER_USER keeps its default (100): the workloads with thousands of
# sessions spread them over BENCH_USERS users, as a site with that many
# sessions has many users, so the check costs what it costs in production.

#: Users (each with a token) besides the demo user, for the big workloads.
BENCH_USERS = 200

_MAKE_USERS = """
import json
from django.contrib.auth import get_user_model
from django_mcp.models import ApiToken

User = get_user_model()
tokens = []
for n in range({count}):
    user = User.objects.create_user(f"bench-{{n:03d}}")
    tokens.append(ApiToken.create(user, name="bench")[1])
print(json.dumps(tokens))
"""


# --------------------------------------------------------------------------- CPUs


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Layout:
    """Which cores the servers and the load generator run on."""

    server: frozenset[int] | None
    loadgen: frozenset[int] | None

    @classmethod
    def choose(cls, pin: bool = True) -> Layout:
        cpus = available_cpus()
        if not pin or len(cpus) < 2:
            return cls(None, None)
        return cls(frozenset({cpus[0]}), frozenset({cpus[1]}))

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than 2 cores available, or --no-pin)"
        return (
            f"server processes on core {_fmt(self.server)}, "
            f"load generator on core {_fmt(self.loadgen)}"
        )


def _fmt(cpus: frozenset[int] | None) -> str:
    return ",".join(str(c) for c in sorted(cpus or ()))


def _preexec(cpus: frozenset[int] | None) -> Callable[[], None]:
    def setup() -> None:
        os.setsid()  # own process group: a stop reaches nginx's workers too
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_proc_stat(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process in seconds, all its threads included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # After the command: state is field 3, utime 14 and stime 15 (1-based).
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def read_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    include_children: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)] if self.include_children else [self.pid]

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                user, system = read_proc_stat(pid)
            except OSError:
                continue
            total += user + system
        return total

    def rss_kib(self) -> int:
        return sum(read_rss_kib(pid) for pid in self.pids())

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout)


def spawn(
    name: str,
    cmd: list[str],
    *,
    log: Path,
    cpus: frozenset[int] | None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int = 0,
    include_children: bool = False,
) -> Proc:
    with log.open("ab") as out:
        popen = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_preexec(cpus),
        )
    return Proc(name, popen, log, port, include_children)


def wait_http(proc: Proc, path: str | None, timeout: float = 60.0) -> None:
    """Wait until the port accepts connections (and ``GET path`` answers 200)."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", proc.port), timeout=2) as sock:
                if path is None:
                    return
                sock.sendall(
                    f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{proc.port}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                head = sock.recv(64)
                if head.split(b" ")[1:2] == [b"200"]:
                    return
                last = head.decode(errors="replace")
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} not ready in {timeout}s ({last}):\n{proc.log_tail()}")


# --------------------------------------------------------------------------- our server


def use_revision(rev: str, workdir: Path) -> str:
    """Serve django_mcp/ and example_project/ as of git revision ``rev``; returns its hash."""
    global SOURCE
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = workdir / "src"
    target.mkdir()
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(REPO),
            "archive",
            "--format=tar",
            commit,
            "django_mcp",
            "example_project",
        ],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    SOURCE = target
    return commit


def example_dir() -> Path:
    return SOURCE / "example_project"


def example_env(workdir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(SERVER_ENV)
    env.update(LIMIT_ENV)
    env.setdefault("EXAMPLE_DB", "sqlite")
    env.setdefault("EXAMPLE_CHANNEL_LAYER", "memory")
    env["EXAMPLE_SQLITE_PATH"] = str(workdir / "db.sqlite3")
    # The served code comes first, ahead of the editable install of the work tree.
    env["PYTHONPATH"] = os.pathsep.join([str(example_dir()), str(SOURCE)])
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(example_dir() / "manage.py"), *args],
        cwd=example_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def prepare_database(env: dict[str, str]) -> list[str]:
    """Migrate the (fresh) database; return the demo token (the last line of
    ``demo_setup``), then one token for each of ``BENCH_USERS`` more users."""
    if env.get("EXAMPLE_DB") == "postgres":
        name = env.get("EXAMPLE_PG_NAME", "mcp_bench")
        pg = [
            "-h",
            env.get("EXAMPLE_PG_HOST", "127.0.0.1"),
            "-U",
            env.get("EXAMPLE_PG_USER", "postgres"),
        ]
        subprocess.run(
            ["dropdb", *pg, "--if-exists", "--force", name], check=True, capture_output=True
        )
        subprocess.run(["createdb", *pg, name], check=True, capture_output=True)
    manage(env, "migrate", "--noinput", "-v", "0")
    lines = [line.strip() for line in manage(env, "demo_setup").splitlines() if line.strip()]
    made = manage(env, "shell", "-c", _MAKE_USERS.format(count=BENCH_USERS)).splitlines()[-1]
    return [lines[-1], *json.loads(made)]


# daphne's listen backlog: 2048 as in docs/deploy.md and the systemd unit (uvicorn's
# default too); 0 keeps daphne's own default of 50 (``daphne -b ... -p ...``).
DAPHNE_BACKLOG = 2048


def start_daphne(
    name: str, env: dict[str, str], workdir: Path, cpus: frozenset[int] | None
) -> Proc:
    port = free_port()
    daphne = Path(sys.executable).parent / "daphne"
    if DAPHNE_BACKLOG:
        listen = ["-e", f"tcp:port={port}:interface=127.0.0.1:backlog={DAPHNE_BACKLOG}"]
    else:
        listen = ["-b", "127.0.0.1", "-p", str(port)]
    cmd = [str(daphne), "-v", "0", *listen, "config.asgi:application"]
    proc = spawn(
        name, cmd, log=workdir / f"{name}.log", cpus=cpus, env=env, cwd=example_dir(), port=port
    )
    wait_http(proc, "/mcp/health")
    return proc


# --------------------------------------------------------------------------- the SDK's server


def start_sdk(
    name: str, workdir: Path, cpus: frozenset[int] | None, standard: bool = False
) -> Proc:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "sdk_server.py"), "--port", str(port)]
    if standard:
        cmd.append("--uvicorn-standard")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = spawn(name, cmd, log=workdir / f"{name}.log", cpus=cpus, env=env, port=port)
    wait_http(proc, None)
    return proc


def start_null(name: str, workdir: Path, cpus: frozenset[int] | None) -> Proc:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "null_server.py"), "--port", str(port)]
    proc = spawn(name, cmd, log=workdir / f"{name}.log", cpus=cpus, port=port)
    wait_http(proc, None)
    return proc


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def render_nginx(template: str, values: dict[str, str]) -> str:
    text = template
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    if "{{ " in text:
        raise ValueError(
            f"unfilled placeholder in nginx template: {text[text.index('{{ ') :][:40]}"
        )
    return text


def start_nginx(
    workdir: Path, upstreams: Iterable[int], cpus: frozenset[int] | None, workers: int = 2
) -> Proc:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx not found (Debian: apt-get install -y nginx)")
    port = free_port()
    root = workdir / f"nginx-{port}"
    (root / "temp").mkdir(parents=True)
    # nginx run as root hands its workers to an unprivileged user: let them write temp files.
    os.chmod(root / "temp", 0o777)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile == resource.RLIM_INFINITY:
        nofile = 65536
    values = {
        "worker_processes": str(workers),
        "worker_rlimit_nofile": str(nofile),
        "worker_connections": str(max(1024, nofile - 512)),
        "pid_path": str(root / "nginx.pid"),
        "error_log": str(root / "error.log"),
        "temp_dir": str(root / "temp"),
        "listen": f"127.0.0.1:{port}",
        "upstream_servers": "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams),
    }
    conf = root / "nginx.conf"
    conf.write_text(render_nginx(NGINX_TEMPLATE.read_text(), values))
    check = subprocess.run(
        [binary, "-t", "-q", "-p", str(root), "-c", str(conf)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
    proc = spawn(
        "nginx",
        [binary, "-p", str(root), "-c", str(conf)],
        log=root / "stdout.log",
        cpus=cpus,
        port=port,
        include_children=True,
    )
    wait_http(proc, None)
    return proc


def find_process(comm: str) -> int | None:
    """The pid of a process by its command name (read-only: used for CPU accounting)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == comm:
                        return int(entry)
            except OSError:
                continue
    return None


# --------------------------------------------------------------------------- the machine


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _command_output(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout + proc.stderr).strip() or None


def machine() -> dict[str, Any]:
    cpu_model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    nginx = nginx_binary()
    redis = _command_output(["redis-cli", "-h", "127.0.0.1", "INFO", "server"]) or ""
    redis_version = next(
        (
            line.split(":", 1)[1].strip()
            for line in redis.splitlines()
            if line.startswith("redis_version")
        ),
        None,
    )
    return {
        "nproc": os.cpu_count(),
        "cpus_available": available_cpus(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            dist: _version(dist)
            for dist in (
                "daphne",
                "Twisted",
                "Django",
                "channels",
                "channels-redis",
                "djangorestframework",
                "uvicorn",
                "starlette",
                "mcp",
                "uvloop",
                "psycopg",
            )
        },
        "nginx": _command_output([nginx, "-v"]) if nginx else None,
        "redis": redis_version,
        "postgres": _command_output(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version"]
        ),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    }


def code_description(commit: str | None) -> str:
    """Which django-mcp code was measured."""
    if commit:
        return f"commit {commit[:10]} (git archive snapshot)"
    head = _command_output(["git", "-C", str(REPO), "rev-parse", "--short=10", "HEAD"])
    dirty = _command_output(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "django_mcp", "example_project"]
    )
    return f"work tree at {head}" + (" with uncommitted changes" if dirty else "")


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full.

    Machine-wide (every process's listening sockets), so read it as a hint: a
    rise while sessions open means SYNs were dropped and retried a second later.
    """
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    idle = fields[3] + fields[4]
    steal = fields[7] if len(fields) > 7 else 0
    busy = sum(fields[:8]) - idle - steal
    return busy / CLK_TCK, steal / CLK_TCK


@dataclass
class CpuMeter:
    """CPU seconds used between ``start()`` and ``stop()``.

    Per tracked process (server workers, nginx, Redis), plus three keys starting
    with an underscore: ``_loadgen`` (this process), ``_other`` (every other
    process on the machine: the noise of a shared machine) and ``_steal``
    (time the hypervisor gave to other guests).
    """

    procs: list[Proc]
    extra: dict[str, int] = field(default_factory=dict)  # name -> pid, e.g. redis-server
    _start: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        values = {p.name: p.cpu_seconds() for p in self.procs}
        for name, pid in self.extra.items():
            try:
                user, system = read_proc_stat(pid)
                values[name] = user + system
            except OSError:
                values[name] = 0.0
        user, system = read_proc_stat(os.getpid())
        values["_loadgen"] = user + system
        values["_busy"], values["_steal"] = machine_cpu()
        return values

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        end = self._sample()
        delta = {name: end[name] - self._start.get(name, 0.0) for name in end}
        tracked = sum(v for k, v in delta.items() if not k.startswith("_")) + delta["_loadgen"]
        delta["_other"] = max(0.0, delta.pop("_busy") - tracked)
        return {name: round(value, 3) for name, value in delta.items()}
