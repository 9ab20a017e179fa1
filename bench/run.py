"""Run the whole benchmark: ``python -m bench`` (or ``make bench``).

Starts the servers itself (the example project on daphne, the official SDK's
server on uvicorn, nginx in front of two daphne workers), pins them to one core
and the load generator to another, runs the workloads, and writes
``bench/results/<stamp>.json`` and ``.md``. A full run (no ``--quick``, no
``--only``) also refreshes the results block of ``docs/performance.md`` and
``docs/performance.json``.

Workloads (``--only`` takes a comma-separated list of these names):

calibrate    the load generator against a do-nothing server: its own ceiling
sequential   tools/call echo one after another on one session: p50, p99, max
concurrent   50 sessions calling back to back for a fixed time: calls/s, p50, p99, errors
connect      open + initialize one session at a time: median time until ready
idle         1,000 and 10,000 idle sessions on one worker: open time, all alive, RSS/session
multiworker  1 and 2 daphne workers (Redis layer, PostgreSQL) behind nginx, no stickiness:
             calls/s, errors, lost calls at 50 and 10,000 sessions, server CPU per call
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import loadgen, servers
from bench.loadgen import Target
from bench.report import DOC, DOC_JSON, markdown, update_doc

WORKLOADS = ("calibrate", "sequential", "concurrent", "connect", "idle", "multiworker")
MAIN = ("sequential", "concurrent", "connect")


@dataclass
class Sizes:
    runs: int = 3
    seq_calls: int = 2000
    seq_warmup: int = 200
    conc_sessions: int = 50
    conc_duration: float = 10.0
    conc_warmup: float = 2.0
    connect_count: int = 50
    idle_sizes: tuple[int, ...] = (1000, 10000)
    open_concurrency: int = 100
    mw_sessions: int = 50
    mw_big: int = 10000
    mw_callers: int = 100
    mw_duration: float = 15.0
    call_timeout: float = 30.0
    calibrate_duration: float = 5.0


QUICK = Sizes(
    runs=1,
    seq_calls=300,
    seq_warmup=50,
    conc_duration=3.0,
    conc_warmup=1.0,
    connect_count=10,
    idle_sizes=(200,),
    mw_big=200,
    mw_callers=50,
    mw_duration=3.0,
    calibrate_duration=2.0,
)


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


@dataclass
class Bench:
    args: argparse.Namespace
    sizes: Sizes
    layout: servers.Layout
    workdir: Path
    procs: list[servers.Proc] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return ["ours", "sdk"] if self.args.target == "both" else [self.args.target]

    def track(self, proc: servers.Proc) -> servers.Proc:
        self.procs.append(proc)
        return proc

    def stop(self, proc: servers.Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        while self.procs:
            self.procs.pop().stop()

    # ------------------------------------------------------------------ servers

    def ours_env(self, **overrides: str) -> dict[str, str]:
        return servers.example_env(self.workdir, **overrides)

    def start_target(self, name: str, label: str, token: str | None) -> tuple[servers.Proc, Target]:
        if name == "ours":
            proc = self.track(
                servers.start_daphne(label, self.ours_env(), self.workdir, self.layout.server)
            )
            return proc, Target("ours", "127.0.0.1", proc.port, "/mcp/sse", token)
        proc = self.track(
            servers.start_sdk(
                label, self.workdir, self.layout.server, self.args.sdk_uvicorn_standard
            )
        )
        return proc, Target("sdk", "127.0.0.1", proc.port, "/sse", None)

    # ------------------------------------------------------------------ workloads

    async def calibrate(self) -> dict[str, Any]:
        proc = self.track(servers.start_null("null", self.workdir, self.layout.server))
        try:
            target = Target("null", "127.0.0.1", proc.port, "/sse")
            meter = servers.CpuMeter([proc])
            result = await loadgen.concurrent(
                target,
                self.sizes.conc_sessions,
                self.sizes.calibrate_duration,
                warmup=1.0,
                on_start=meter.start,
                on_stop=meter.stop,
            )
            log(f"calibrate: load generator ceiling {result['calls_per_s']} calls/s")
            return result
        finally:
            self.stop(proc)

    async def main_workloads(self, token: str | None, wanted: list[str]) -> dict[str, Any]:
        """Sequential, concurrent and connect on each target, runs interleaved."""
        started = {name: self.start_target(name, f"{name}-main", token) for name in self.targets}
        per_run: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {w: [] for w in wanted} for name in self.targets
        }
        try:
            for run in range(self.sizes.runs):
                order = self.targets if run % 2 == 0 else list(reversed(self.targets))
                for name in order:
                    proc, target = started[name]
                    for workload in wanted:
                        result = await self.one_main(workload, proc, target)
                        per_run[name][workload].append(result)
                        log(
                            f"run {run + 1}/{self.sizes.runs} {name:4} {workload}: "
                            f"{brief(workload, result)}"
                        )
                    if not proc.alive():
                        raise RuntimeError(f"{name} server died:\n{proc.log_tail()}")
        finally:
            for proc, _ in started.values():
                self.stop(proc)
        return {
            name: {w: {"median": median_of(w, runs), "runs": runs} for w, runs in by_w.items()}
            for name, by_w in per_run.items()
        }

    async def one_main(self, workload: str, proc: servers.Proc, target: Target) -> dict[str, Any]:
        s = self.sizes
        if workload == "sequential":
            return await loadgen.sequential(target, s.seq_calls, s.seq_warmup, s.call_timeout)
        if workload == "connect":
            return await loadgen.connect_times(target, s.connect_count)
        meter = servers.CpuMeter([proc])
        result = await loadgen.concurrent(
            target,
            s.conc_sessions,
            s.conc_duration,
            s.conc_warmup,
            timeout=s.call_timeout,
            on_start=meter.start,
            on_stop=meter.stop,
        )
        add_cpu_per_call(result, [proc.name])
        return result

    async def idle(self, token: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.targets:
            for size in self.sizes.idle_sizes:
                proc, target = self.start_target(name, f"{name}-idle-{size}", token)
                try:
                    out.setdefault(name, {})[str(size)] = await self.one_idle(proc, target, size)
                finally:
                    self.stop(proc)
        return out

    async def one_idle(self, proc: servers.Proc, target: Target, size: int) -> dict[str, Any]:
        # Warm up: code paths, caches and pools the first sessions bring in.
        warm = loadgen.Client(target, post_connections=8)
        try:
            sessions, _ = await loadgen.open_sessions(warm, 20, concurrency=10)
            for session in sessions:
                await session.call_tool("echo", loadgen.echo_args())
        finally:
            warm.close()
        await asyncio.sleep(1.5)
        meter = servers.CpuMeter([proc])

        def measure(phase: str) -> dict[str, Any]:
            if phase == "before":
                meter.start()
                return {"rss_kib": proc.rss_kib(), "listen_overflows": servers.listen_overflows()}
            return {
                "rss_kib": proc.rss_kib(),
                "cpu_s": meter.stop()[proc.name],
                "listen_overflows": servers.listen_overflows(),
            }

        result = await loadgen.idle(
            target,
            size,
            concurrency=self.sizes.open_concurrency,
            open_timeout=max(120.0, size / 20),
            measure=measure,
            progress=open_progress(f"idle {target.name}", size),
        )
        before = result["measure"]["before"]["rss_kib"]
        after = result["measure"]["after"]["rss_kib"]
        opened = result["opened"] or 1
        result["rss_before_mib"] = round(before / 1024, 1)
        result["rss_after_mib"] = round(after / 1024, 1)
        result["kib_per_session"] = round((after - before) / opened, 1)
        result["open_cpu_ms_per_session"] = round(
            result["measure"]["after"]["cpu_s"] * 1000 / opened, 3
        )
        result["listen_overflows"] = (
            result["measure"]["after"]["listen_overflows"]
            - result["measure"]["before"]["listen_overflows"]
        )
        result["server_alive"] = proc.alive()
        log(
            f"idle {target.name} {size}: opened {result['opened']} in {result['open_seconds']} s, "
            f"{result['kib_per_session']} KiB/session, pings {result['ping_outcomes']}"
        )
        return result

    async def multiworker(self) -> dict[str, Any]:
        missing = multiworker_missing()
        if missing:
            log(f"multiworker skipped: {missing}")
            return {"skipped": missing}
        s = self.sizes
        env = self.ours_env(
            EXAMPLE_DB="postgres",
            EXAMPLE_PG_NAME=self.args.pg_db,
            EXAMPLE_CHANNEL_LAYER="redis",
        )
        tokens = servers.prepare_database(env)
        workers = [
            self.track(servers.start_daphne(f"worker{i}", env, self.workdir, self.layout.server))
            for i in (1, 2)
        ]
        nginx_one = self.track(
            servers.start_nginx(self.workdir, [workers[0].port], self.layout.loadgen)
        )
        nginx_two = self.track(
            servers.start_nginx(self.workdir, [w.port for w in workers], self.layout.loadgen)
        )
        setups = {
            "1 worker": (nginx_one, workers[:1]),
            "2 workers": (nginx_two, workers),
        }
        extra = {"redis": pid} if (pid := servers.find_process("redis-server")) else {}
        out: dict[str, Any] = {
            "layout": (
                f"daphne workers on core {servers._fmt(self.layout.server)} (shared), "
                f"nginx (2 worker "
                f"processes) and the load generator on core {servers._fmt(self.layout.loadgen)}, "
                "Redis and PostgreSQL unpinned (system services)"
                if self.layout.server
                else "not pinned"
            ),
        }
        try:
            per_run: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
            for run in range(s.runs):
                for name, (nginx, procs) in setups.items():
                    target = Target(name, "127.0.0.1", nginx.port, "/mcp/sse", tokens[0])
                    meter = servers.CpuMeter([*procs, nginx], extra)
                    result = await loadgen.concurrent(
                        target,
                        s.mw_sessions,
                        s.conc_duration,
                        s.conc_warmup,
                        timeout=s.call_timeout,
                        on_start=meter.start,
                        on_stop=meter.stop,
                    )
                    add_cpu_per_call(result, [p.name for p in procs])
                    per_run[name].append(result)
                    log(
                        f"run {run + 1}/{s.runs} multiworker {name} {s.mw_sessions} sessions: "
                        f"{brief('concurrent', result)}"
                    )
            for name in setups:
                out[f"{name}, {s.mw_sessions} sessions"] = {
                    "median": median_of("concurrent", per_run[name]),
                    "runs": per_run[name],
                }
            big_setups = (
                ["2 workers"] if self.args.skip_mw_baseline_big else ["1 worker", "2 workers"]
            )
            for name in big_setups:
                nginx, procs = setups[name]
                target = Target(name, "127.0.0.1", nginx.port, "/mcp/sse", ",".join(tokens))
                out[f"{name}, {s.mw_big:,} sessions"] = await self.mw_big(
                    target, procs, nginx, extra
                )
            out["workers_alive"] = all(w.alive() for w in workers)
        finally:
            for proc in (nginx_one, nginx_two, *workers):
                self.stop(proc)
        return out

    async def mw_big(
        self,
        target: Target,
        procs: list[servers.Proc],
        nginx: servers.Proc,
        extra: dict[str, int],
    ) -> dict[str, Any]:
        s = self.sizes
        client = loadgen.Client(target, post_connections=256)
        try:
            started = time.perf_counter()
            overflows = servers.listen_overflows()
            rss_before = sum(p.rss_kib() for p in procs)
            sessions, failures = await loadgen.open_sessions(
                client,
                s.mw_big,
                concurrency=s.open_concurrency,
                timeout=max(120.0, s.mw_big / 20),
                progress=open_progress(f"multiworker {target.name}", s.mw_big),
            )
            open_seconds = round(time.perf_counter() - started, 2)
            log(f"multiworker {target.name}: opened {len(sessions)}/{s.mw_big} in {open_seconds} s")
            await asyncio.sleep(2.0)
            rss_after = sum(p.rss_kib() for p in procs)
            meter = servers.CpuMeter([*procs, nginx], extra)
            result = await loadgen.spread(
                target,
                sessions,
                s.mw_callers,
                s.mw_duration,
                timeout=s.call_timeout,
                on_start=meter.start,
                on_stop=meter.stop,
            )
            add_cpu_per_call(result, [p.name for p in procs])
            pings = await loadgen.ping_all(sessions, timeout=s.call_timeout)
            ping_errors = sum(n for k, n in pings.items() if k != "ok")
            result.update(
                {
                    "open_seconds": open_seconds,
                    "opened": len(sessions),
                    "open_failures": dict(failures),
                    "listen_overflows": servers.listen_overflows() - overflows,
                    # Everything sent at this size: opens, the calls, then a ping on each.
                    "errors_total": result["errors"] + sum(failures.values()) + ping_errors,
                    "lost_total": result["lost"] + pings.get("lost", 0),
                    "http_5xx_total": result["http_5xx"]
                    + loadgen.count_5xx(failures)
                    + loadgen.count_5xx(pings),
                    "late_total": client.stats.late,
                    "after_refusal_total": client.stats.after_refusal,
                    "kib_per_session": round((rss_after - rss_before) / max(1, len(sessions)), 1),
                    "ping_outcomes": dict(pings),
                    "all_alive": pings.get("ok", 0) == s.mw_big,
                    "unmatched_total": client.stats.unmatched,
                }
            )
            log(
                f"multiworker {target.name} {s.mw_big} sessions: {brief('concurrent', result)}, "
                f"pings {dict(pings)}"
            )
            return result
        finally:
            client.close()
            await settle(procs)


async def settle(procs: list[servers.Proc], limit: float = 300.0) -> float:
    """Wait until the servers are idle again (after thousands of streams closed).

    Returns the seconds waited; gives up after ``limit``.
    """
    started = time.perf_counter()
    await asyncio.sleep(1.0)
    while time.perf_counter() - started < limit:
        before = sum(p.cpu_seconds() for p in procs if p.alive())
        await asyncio.sleep(1.0)
        if sum(p.cpu_seconds() for p in procs if p.alive()) - before < 0.05:
            break
    waited = time.perf_counter() - started
    if waited > 5:
        log(f"servers settled after {waited:.0f} s")
    return waited


def open_progress(label: str, total: int) -> Callable[[int], None]:
    """Log every 10% of the sessions opened, with the time since the first."""
    step = max(1000, total // 10)
    started = time.perf_counter()

    def report(opened: int) -> None:
        if opened % step == 0 and opened < total:
            log(f"{label}: {opened:,}/{total:,} open after {time.perf_counter() - started:.1f} s")

    return report


def multiworker_missing() -> str | None:
    if servers.nginx_binary() is None:
        return "nginx is not installed (apt-get install -y nginx)"
    if subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True).returncode:
        return "Redis is not answering on 127.0.0.1:6379"
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], capture_output=True).returncode:
        return "PostgreSQL is not answering on 127.0.0.1:5432"
    return None


def add_cpu_per_call(result: dict[str, Any], workers: list[str]) -> None:
    server = result.get("server") or {}
    ok = result.get("ok") or 0
    if not server or not ok:
        return
    worker_cpu = sum(server.get(name, 0.0) for name in workers)
    seconds = result["seconds"]
    result["server_cpu_ms_per_call"] = round(worker_cpu * 1000 / ok, 4)
    for name, used in server.items():
        if name in workers:
            continue
        if name.startswith("_"):
            # Cores' worth of CPU: how busy the load generator and the rest of the machine were.
            result[f"{name[1:]}_cores"] = round(used / seconds, 3)
        else:
            result[f"{name}_cpu_ms_per_call"] = round(used * 1000 / ok, 4)
    result["server_cpu_utilisation"] = round(worker_cpu / seconds, 3)


MEDIAN_KEYS = {
    "sequential": ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "calls_per_s", "errors"),
    "concurrent": (
        "calls_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "errors",
        "lost",
        "http_5xx",
        "unmatched",
        "late",
        "after_refusal",
        "server_cpu_ms_per_call",
        "nginx_cpu_ms_per_call",
        "redis_cpu_ms_per_call",
        "server_cpu_utilisation",
        "loadgen_cores",
        "other_cores",
        "steal_cores",
    ),
    "connect": ("p50_ms", "p90_ms", "p99_ms", "max_ms"),
}


def median_of(workload: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        key: median([r.get(key) for r in runs]) for key in MEDIAN_KEYS[workload]
    }
    if workload == "concurrent":
        # Errors and lost calls are summed over the runs: one lost call matters.
        for key in ("errors", "lost", "http_5xx", "unmatched", "late", "after_refusal"):
            merged[f"{key}_total"] = sum(r.get(key) or 0 for r in runs)
        merged["calls_total"] = sum(r.get("calls") or 0 for r in runs)
    if workload == "sequential":
        merged["errors_total"] = sum(r.get("errors") or 0 for r in runs)
        merged["max_ms_worst"] = max((r.get("max_ms") or 0 for r in runs), default=None)
    return merged


def brief(workload: str, result: dict[str, Any]) -> str:
    if workload == "connect":
        return f"p50 {result.get('p50_ms')} ms, max {result.get('max_ms')} ms"
    parts = [
        f"{result.get('calls_per_s')} calls/s",
        f"p50 {result.get('p50_ms')} ms",
        f"p99 {result.get('p99_ms')} ms",
        f"max {result.get('max_ms')} ms",
        f"errors {result.get('errors')}",
    ]
    if "server_cpu_ms_per_call" in result:
        parts.append(f"cpu {result['server_cpu_ms_per_call']} ms/call")
    if result.get("outcomes") and set(result["outcomes"]) != {"ok"}:
        parts.append(f"outcomes {result['outcomes']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run in well under 2 minutes"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated workloads of {', '.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="repeats of the repeated workloads (default 3, 1 with --quick)",
    )
    parser.add_argument("--target", choices=["ours", "sdk", "both"], default="both")
    parser.add_argument(
        "--idle-sizes", default=None, help="comma-separated session counts, e.g. 1000,10000"
    )
    parser.add_argument(
        "--mw-sessions",
        type=int,
        default=None,
        help="sessions of the big multi-worker test (10000)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds of each concurrent run (10)"
    )
    parser.add_argument(
        "--skip-mw-baseline-big", action="store_true", help="no 1-worker run at the big size"
    )
    parser.add_argument(
        "--rev",
        default=None,
        help="serve django_mcp/ and example_project/ as of this git revision (default: work tree)",
    )
    parser.add_argument(
        "--daphne-backlog",
        type=int,
        default=servers.DAPHNE_BACKLOG,
        help="daphne's listen backlog (as docs/deploy.md; 0: daphne's default of 50)",
    )
    parser.add_argument("--pg-db", default="mcp_bench", help="PostgreSQL database to (re)create")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--no-uvloop", action="store_true", help="load generator on asyncio's loop")
    parser.add_argument(
        "--sdk-uvicorn-standard", action="store_true", help="uvicorn with uvloop+httptools"
    )
    parser.add_argument(
        "--out", default=str(servers.BENCH / "results"), help="directory of the result files"
    )
    parser.add_argument("--no-docs", action="store_true", help="never touch docs/performance.md")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, configs)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes(**asdict(QUICK)) if args.quick else Sizes()
    if args.runs is not None:
        sizes.runs = max(1, args.runs)
    if args.idle_sizes:
        sizes.idle_sizes = tuple(int(x) for x in args.idle_sizes.split(","))
    if args.mw_sessions:
        sizes.mw_big = args.mw_sessions
    if args.duration:
        sizes.conc_duration = sizes.mw_duration = args.duration
    wanted = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = set(wanted) - set(WORKLOADS)
    if unknown:
        print(f"unknown workload(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.target == "sdk":
        wanted = [w for w in wanted if w != "multiworker"]

    servers.DAPHNE_BACKLOG = args.daphne_backlog
    layout = servers.Layout.choose(not args.no_pin)
    if layout.loadgen:
        os.sched_setaffinity(0, layout.loadgen)
    nofile = loadgen.raise_nofile()
    needed = max([*sizes.idle_sizes, sizes.mw_big if "multiworker" in wanted else 0]) + 1000
    if nofile < needed:
        log(f"warning: open-file limit {nofile} is below the {needed} this run needs")
    loop, loop_name = loadgen.new_event_loop(not args.no_uvloop)
    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    bench = Bench(args, sizes, layout, workdir)
    commit = servers.use_revision(args.rev, workdir) if args.rev else None
    command = "python -m bench" + ("" if argv is None else " " + " ".join(argv))
    if argv is None and len(sys.argv) > 1:
        command += " " + " ".join(sys.argv[1:])
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command,
            "mode": "quick" if args.quick else "full",
            "workloads": wanted,
            "sizes": asdict(sizes),
            "layout": layout.describe(),
            "daphne_command": "daphne -v 0 "
            + (
                f"-e tcp:port=PORT:interface=127.0.0.1:backlog={servers.DAPHNE_BACKLOG}"
                if servers.DAPHNE_BACKLOG
                else "-b 127.0.0.1 -p PORT"
            )
            + " config.asgi:application",
            "loop": loop_name,
            "machine": servers.machine(),
            "code": servers.code_description(commit),
            "loadavg_before": servers.loadavg(),
            "workdir": str(workdir),
        },
        "workloads": {},
    }
    log(
        f"bench: {', '.join(wanted)} ({report['meta']['mode']}); {layout.describe()}; "
        f"loop {loop_name}"
    )
    log(f"logs and configs in {workdir}")

    async def run() -> None:
        results = report["workloads"]
        tokens: list[str] = []
        if "ours" in bench.targets and any(w in wanted for w in (*MAIN, "idle")):
            tokens = servers.prepare_database(bench.ours_env())
        if "calibrate" in wanted:
            results["calibrate"] = await bench.calibrate()
        main_wanted = [w for w in MAIN if w in wanted]
        if main_wanted:
            results["main"] = await bench.main_workloads(tokens[0] if tokens else None, main_wanted)
        if "idle" in wanted:
            results["idle"] = await bench.idle(",".join(tokens) or None)
        if "multiworker" in wanted:
            results["multiworker"] = await bench.multiworker()

    failed: BaseException | None = None
    try:
        loop.run_until_complete(run())
    except BaseException as error:  # report what was measured, then fail
        failed = error
        report["error"] = f"{type(error).__name__}: {error}"
        log(f"bench failed: {report['error']}")
    finally:
        bench.stop_all()
        loop.close()
    report["meta"]["loadavg_after"] = servers.loadavg()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = markdown(report)
    (out / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (out / f"{stamp}.md").write_text(text + "\n")
    shutil.copyfile(out / f"{stamp}.json", out / "latest.json")
    shutil.copyfile(out / f"{stamp}.md", out / "latest.md")
    print(text)
    log(f"results: {out / (stamp + '.json')} and .md")
    if (
        failed is None
        and not args.quick
        and not args.only
        and not args.no_docs
        and args.target == "both"
    ):
        if update_doc(text):
            DOC_JSON.write_text(json.dumps(report, indent=2, default=str) + "\n")
            log(f"updated {DOC.relative_to(servers.REPO)} and {DOC_JSON.relative_to(servers.REPO)}")
        else:
            log(f"{DOC} has no results markers; not updated")
    if not args.keep and failed is None:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed is not None:
        if isinstance(failed, KeyboardInterrupt):
            return 130
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
