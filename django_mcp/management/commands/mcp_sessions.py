"""``manage.py mcp_sessions``: live MCP sessions; ``--terminate ID`` ends one."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from django_mcp import store
from django_mcp.conf import mcp_settings
from django_mcp.models import McpSession


def _age(moment: Any) -> str:
    if moment is None:
        return "—"
    seconds = int((timezone.now() - moment).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


class Command(BaseCommand):
    help = "List live MCP sessions (newest first), or terminate some with --terminate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Closed sessions too, with their close reason."
        )
        parser.add_argument(
            "--stale",
            action="store_true",
            help="Only live sessions whose worker heartbeat is older than SESSION_STALE_AFTER.",
        )
        parser.add_argument("--user", help="Only this user's sessions (by username).")
        parser.add_argument("--limit", type=int, default=100, help="At most this many rows.")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")
        parser.add_argument(
            "--terminate",
            nargs="+",
            metavar="SESSION_ID",
            help="Terminate these live sessions: close their rows and streams.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["terminate"]:
            self._terminate(options["terminate"])
            return
        if options["stale"]:
            sessions = store.stale_sessions()
        elif options["all"]:
            sessions = McpSession.objects.all()
        else:
            sessions = McpSession.objects.filter(closed_at__isnull=True)
        if options["user"]:
            from django.contrib.auth import get_user_model

            field = get_user_model().USERNAME_FIELD
            sessions = sessions.filter(**{f"user__{field}": options["user"]})
        rows = list(sessions.select_related("user").order_by("-opened_at")[: options["limit"]])
        if options["json"]:
            for row in rows:
                self.stdout.write(json.dumps(_as_dict(row)))
            return
        if not rows:
            self.stdout.write("No sessions.")
            return
        stale_after = timedelta(seconds=mcp_settings.SESSION_STALE_AFTER)
        header = (
            f"{'SESSION':<20} {'USER':<16} {'CLIENT':<24} {'PROTOCOL':<11} {'STATE':<18} "
            f"{'OPENED':>7} {'ACTIVE':>7} {'BEAT':>6} {'REQ':>6} {'ERR':>5}"
        )
        self.stdout.write(header)
        for row in rows:
            if row.closed_at is not None:
                state = row.close_reason or "closed"
            elif row.heartbeat_at and timezone.now() - row.heartbeat_at > stale_after:
                state = "live (stale)"
            else:
                state = "live"
            client = f"{row.client_name} {row.client_version}".strip() or "—"
            self.stdout.write(
                f"{row.id[:19]:<20} {str(row.user)[:16]:<16} {client[:24]:<24} "
                f"{row.protocol_version or '—':<11} {state:<18} {_age(row.opened_at):>7} "
                f"{_age(row.last_active_at):>7} {_age(row.heartbeat_at):>6} "
                f"{row.request_count:>6} {row.error_count:>5}"
            )

    def _terminate(self, ids: list[str]) -> None:
        found = set(McpSession.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [session_id for session_id in ids if session_id not in found]
        if missing:
            raise CommandError(f"No session with id {', '.join(missing)}.")
        terminated = store.terminate(ids)
        for session_id in ids:
            if session_id in terminated:
                self.stdout.write(f"Terminated {session_id}")
            else:
                self.stderr.write(f"Already closed: {session_id}")


def _as_dict(row: McpSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": str(row.user),
        "client_name": row.client_name,
        "client_version": row.client_version,
        "protocol_version": row.protocol_version,
        "transport": row.transport,
        "live": row.is_live,
        "close_reason": row.close_reason,
        "opened_at": row.opened_at.isoformat(),
        "last_active_at": row.last_active_at.isoformat(),
        "heartbeat_at": row.heartbeat_at.isoformat() if row.heartbeat_at else None,
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "request_count": row.request_count,
        "error_count": row.error_count,
        "worker": row.worker,
        "remote_addr": row.remote_addr,
    }
