"""``manage.py mcp_revoke_token PREFIX_OR_ID ...``: revoke API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from django_mcp.models import ApiToken
from django_mcp.security import tokens


class Command(BaseCommand):
    help = (
        "Revoke MCP API tokens, by id or by prefix (as mcp_list_tokens shows them), "
        "or every token of a user with --user. Their open streams end at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "tokens", nargs="*", metavar="PREFIX_OR_ID", help="Token ids or prefixes."
        )
        parser.add_argument("--user", metavar="USERNAME", help="Revoke every token of this user.")

    def handle(self, *args: Any, **options: Any) -> None:
        identifiers: list[str] = options["tokens"]
        username: str | None = options["user"]
        if not identifiers and not username:
            raise CommandError("Name the tokens to revoke, or a user with --user.")
        found: dict[int, ApiToken] = {}
        for identifier in identifiers:
            match = Q(prefix=identifier.rstrip("…"))
            if identifier.isdigit():
                match |= Q(pk=int(identifier))
            matches = list(ApiToken.objects.filter(match))
            if not matches:
                raise CommandError(f"No token with id or prefix {identifier!r}.")
            if len(matches) > 1:
                raise CommandError(f"{identifier!r} names several tokens: use their ids.")
            found[matches[0].pk] = matches[0]
        if username:
            user_model = get_user_model()
            try:
                user = user_model._default_manager.get_by_natural_key(username)
            except user_model.DoesNotExist:
                raise CommandError(f"No user named {username!r}.") from None
            for token in ApiToken.objects.filter(user=user):
                found[token.pk] = token
        count = tokens.revoke(found.values())
        already = len(found) - count
        note = f" ({already} already revoked)" if already else ""
        self.stdout.write(f"Revoked {count} token(s){note}.")
