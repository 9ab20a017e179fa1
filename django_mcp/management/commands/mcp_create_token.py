"""``manage.py mcp_create_token USERNAME``: create an API token, print it once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_mcp.security import tokens


class Command(BaseCommand):
    help = "Create an MCP API token for a user. The raw token is printed alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument("--name", default="", help="A label for the token.")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPE",
            help="Limit the token to this tool, or to read-only tools with 'read-only'. "
            "Repeat for several; none: every tool the user may use.",
        )
        parser.add_argument(
            "--expires-in-days",
            type=float,
            default=None,
            metavar="DAYS",
            help="Expire after this many days (default: never).",
        )

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        try:
            token, raw = tokens.issue(
                user,
                name=name,
                scopes=options["scopes"],
                expires_in_days=options.get("expires_in_days"),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        limited = f" limited to {', '.join(token.scopes)}" if token.scopes else ""
        self.stderr.write(f"Created token {token.prefix}… for {username}{limited}. Store it now:")
        self.stdout.write(raw)
