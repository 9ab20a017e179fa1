"""``manage.py mcp_tools``: the registered tools, with their schemas and permissions."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_mcp.registry import Permission, Tool, registry


class Command(BaseCommand):
    help = "List the registered MCP tools with their input/output schemas and permissions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Only these tools.")
        parser.add_argument("--json", action="store_true", help="Print one JSON document.")
        parser.add_argument(
            "--user", help="Only the tools this user may see and call (by username)."
        )
        parser.add_argument(
            "--brief", action="store_true", help="One line per tool, without schemas."
        )

    def handle(self, *args: Any, names: list[str], **options: Any) -> None:
        tools = sorted(registry.tools(), key=lambda tool: tool.name)
        unknown = set(names) - {tool.name for tool in tools}
        if unknown:
            raise CommandError(f"Unknown tool(s): {', '.join(sorted(unknown))}")
        if names:
            tools = [tool for tool in tools if tool.name in names]
        if options["user"]:
            user = _user(options["user"])
            tools = [tool for tool in tools if tool.allows(user)]
        if options["json"]:
            self.stdout.write(json.dumps([_as_dict(tool) for tool in tools], indent=2))
            return
        if not tools:
            self.stdout.write("No tools.")
            return
        for tool in tools:
            self._print(tool, brief=options["brief"])

    def _print(self, tool: Tool, *, brief: bool) -> None:
        info = _as_dict(tool)
        hints = ", ".join(
            f"{key}={value}" for key, value in (info.get("annotations") or {}).items()
        )
        self.stdout.write(self.style.MIGRATE_HEADING(tool.name))
        if brief:
            self.stdout.write(f"  permission: {info['permission']}")
            return
        for label, value in (
            ("title", tool.title),
            ("description", (tool.description or "").strip().splitlines()[0:1]),
            ("module", tool.module),
            ("kind", "async" if tool.is_async else "sync (runs in a thread)"),
            ("permission", info["permission"]),
            ("annotations", hints),
            ("log", info["log"]),
        ):
            if isinstance(value, list):
                value = value[0] if value else ""
            if value:
                self.stdout.write(f"  {label}: {value}")
        self.stdout.write("  input schema:")
        self.stdout.write(_indent(json.dumps(info["inputSchema"], indent=2)))
        if info.get("outputSchema"):
            self.stdout.write("  output schema:")
            self.stdout.write(_indent(json.dumps(info["outputSchema"], indent=2)))
        self.stdout.write("")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _user(username: str) -> Any:
    users = get_user_model()
    try:
        return users._default_manager.get_by_natural_key(username)
    except users.DoesNotExist:
        raise CommandError(f"No user named {username!r}.") from None


def describe_permission(permission: Permission) -> str:
    if permission is None:
        return "any authenticated user"
    if callable(permission):
        name = getattr(permission, "__qualname__", None) or repr(permission)
        module = getattr(permission, "__module__", None)
        return f"check {module}.{name}" if module else f"check {name}"
    perms = [permission] if isinstance(permission, str) else list(permission)
    return "needs " + ", ".join(perms)


def _as_dict(tool: Tool) -> dict[str, Any]:
    data: dict[str, Any] = tool.definition().model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    data["permission"] = describe_permission(tool.permission)
    data["module"] = tool.module
    if not tool.log_arguments:
        data["log"] = "arguments not logged"
    elif tool.redact:
        data["log"] = f"arguments logged, {', '.join(tool.redact)} redacted"
    else:
        data["log"] = "arguments logged"
    return data
