"""``manage.py mcp_clearsessions``: the cron job of the session table and the call log.

Like Django's ``clearsessions``: run it periodically. It

1. closes, as ``worker-lost``, live sessions whose worker heartbeat is older
   than ``SESSION_STALE_AFTER`` seconds (their worker died without closing them);
2. deletes sessions closed more than ``SESSION_RETENTION_DAYS`` ago;
3. deletes tool-call rows older than ``TOOL_CALL_RETENTION_DAYS``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_mcp import store


class Command(BaseCommand):
    help = (
        "Close sessions whose worker died, and delete closed sessions and tool-call log "
        "rows past their retention. Run it from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Override SESSION_STALE_AFTER: heartbeat age that marks a worker as dead.",
        )
        parser.add_argument(
            "--session-days",
            type=float,
            default=None,
            metavar="DAYS",
            help="Override SESSION_RETENTION_DAYS.",
        )
        parser.add_argument(
            "--call-days",
            type=float,
            default=None,
            metavar="DAYS",
            help="Override TOOL_CALL_RETENTION_DAYS.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("stale_after", "session_days", "call_days"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
        stale = store.stale_sessions(options["stale_after"])
        sessions = store.expired_sessions(options["session_days"])
        calls = store.expired_calls(options["call_days"])
        if options["dry_run"]:
            self.stdout.write(
                f"Would close {stale.count()} stale session(s), delete "
                f"{sessions.count()} closed session(s) and {calls.count()} tool call(s)."
            )
            return
        closed = store.close_stale(options["stale_after"])
        deleted_sessions = store.delete_in_chunks(sessions)
        deleted_calls = store.delete_in_chunks(calls)
        self.stdout.write(
            f"Closed {len(closed)} stale session(s); deleted {deleted_sessions} closed "
            f"session(s) and {deleted_calls} tool call(s)."
        )
