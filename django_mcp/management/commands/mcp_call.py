"""``manage.py mcp_call USERNAME TOOL key=value ...``: call a tool as a user, for debugging.

The call runs through the same protocol core as a client's ``tools/call``:
the user's permissions, argument validation, the tool-call log (with no
session) and the ``tool_called`` signal all apply.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from django_mcp.calllog import SessionlessRecorder
from django_mcp.protocol import calls
from django_mcp.protocol.handlers import Handlers
from django_mcp.protocol.jsonrpc import JSONRPCError
from django_mcp.protocol.session import ServerSession


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` arguments; a value that parses as JSON is taken as JSON."""
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"Expected key=value, got {pair!r}.")
        try:
            arguments[key] = json.loads(raw)
        except ValueError:
            arguments[key] = raw
    return arguments


class Command(BaseCommand):
    help = (
        "Call an MCP tool as USERNAME and print the result. Arguments are key=value "
        "(values parsed as JSON when they can be) or --json '{...}'. Exits non-zero on "
        "a protocol error or a tool error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the tool runs as.")
        parser.add_argument("tool", help="The tool's name.")
        parser.add_argument("pairs", nargs="*", metavar="key=value", help="Tool arguments.")
        parser.add_argument(
            "--json", dest="json_arguments", help="All arguments as one JSON object."
        )

    def handle(
        self, *args: Any, username: str, tool: str, pairs: list[str], **options: Any
    ) -> None:
        arguments = parse_pairs(pairs)
        if options["json_arguments"]:
            try:
                given = json.loads(options["json_arguments"])
            except ValueError as exc:
                raise CommandError(f"--json is not valid JSON: {exc}") from None
            if not isinstance(given, dict):
                raise CommandError("--json must be a JSON object.")
            arguments = {**given, **arguments}
        user = self._user(username)
        outcome = async_to_sync(self._call)(user, tool, arguments)
        if "error" in outcome:
            error = outcome["error"]
            raise CommandError(f"JSON-RPC error {error['code']}: {error['message']}")
        result = outcome["result"]
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
        if result.get("isError"):
            raise CommandError("The tool reported an error.")

    def _user(self, username: str) -> Any:
        users = get_user_model()
        try:
            user = users._default_manager.get_by_natural_key(username)
        except users.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        # Load the permission caches here: the checks run on the event loop.
        user.get_all_permissions()
        return user

    async def _call(self, user: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        inner = calls.default_recorder()
        handlers = Handlers(recorder=SessionlessRecorder(inner) if inner else None)

        async def discard(message: Any) -> None:
            return None

        session = ServerSession(
            session_id=f"shell-{secrets.token_urlsafe(8)}",
            user=user,
            send=discard,
            handlers=handlers,
            transport="shell",
        )
        session.protocol_version = LATEST_HANDSHAKE_VERSION
        session.initialized = True
        try:
            result = await handlers.tools_call(session, {"name": tool, "arguments": arguments})
        except JSONRPCError as error:
            return {"error": error.to_error()}
        finally:
            drain = getattr(inner, "drain", None)
            if drain is not None:
                await drain()
            session.close()
        return {"result": result}
