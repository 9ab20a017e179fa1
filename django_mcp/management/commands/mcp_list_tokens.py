"""``manage.py mcp_list_tokens``: list API tokens, never their secrets."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from django_mcp.models import ApiToken
from django_mcp.security import tokens

COLUMNS = ("id", "prefix", "user", "name", "scopes", "created", "last used", "expires", "status")


class Command(BaseCommand):
    help = "List MCP API tokens: id, prefix, owner, scopes, dates and status. No secrets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's tokens.")
        parser.add_argument(
            "--status",
            choices=(tokens.ACTIVE, tokens.EXPIRED, tokens.REVOKED),
            help="Only tokens in this state (default: all).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queryset: QuerySet[ApiToken] = ApiToken.objects.select_related("user").order_by(
            "created_at", "pk"
        )
        if options["user"]:
            user_model = get_user_model()
            try:
                user = user_model._default_manager.get_by_natural_key(options["user"])
            except user_model.DoesNotExist:
                raise CommandError(f"No user named {options['user']!r}.") from None
            queryset = queryset.filter(user=user)
        if options["status"]:
            queryset = tokens.with_status(queryset, options["status"])
        rows = [COLUMNS, *(self.row(token) for token in queryset)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )

    @staticmethod
    def row(token: ApiToken) -> tuple[str, ...]:
        def when(value: Any) -> str:
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"

        return (
            str(token.pk),
            f"{token.prefix}…",
            token.user.get_username(),
            token.name or "-",
            ",".join(str(scope) for scope in token.scopes) or "(all)",
            when(token.created_at),
            when(token.last_used_at),
            when(token.expires_at),
            tokens.status(token),
        )
