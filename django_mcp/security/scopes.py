"""Token scopes: which tools a scoped credential may see and call.

An :class:`~django_mcp.models.ApiToken` with an empty ``scopes`` list may use
every tool its user may. A non-empty list restricts it to the tools it names,
plus every read-only tool (``readOnlyHint: true``) when it holds the
``read-only`` scope. Scopes only ever narrow what the user's own permissions
allow; they never grant a tool the user may not use.

The scopes are read once, when the stream opens, and travel with the session
(:attr:`ServerSession.scopes`), so checking them costs no query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_mcp.registry import Registry, Tool

#: The scope that admits every tool annotated ``readOnlyHint: true``.
READ_ONLY = "read-only"


@dataclass(frozen=True, slots=True)
class ToolScopes:
    """The tools a scoped credential is limited to."""

    tools: frozenset[str] = frozenset()
    read_only: bool = False

    @classmethod
    def parse(cls, scopes: Iterable[Any] | None) -> ToolScopes | None:
        """Scopes from a token's list; ``None`` (no restriction) when it is empty.

        A non-empty list of nothing usable restricts to nothing, never to everything.
        """
        values = list(scopes or ())
        if not values:
            return None
        names = frozenset(value for value in values if isinstance(value, str))
        return cls(tools=names - {READ_ONLY}, read_only=READ_ONLY in names)

    def permits(self, tool: Tool) -> bool:
        if tool.name in self.tools:
            return True
        return self.read_only and is_read_only(tool)

    def __str__(self) -> str:
        labels = sorted(self.tools) + ([READ_ONLY] if self.read_only else [])
        return " ".join(labels)


def is_read_only(tool: Tool) -> bool:
    return tool.annotations is not None and tool.annotations.read_only_hint is True


def scopes_for(auth: Any) -> ToolScopes | None:
    """The tool scopes of what an authentication class returned as ``request.auth``.

    API tokens carry theirs; other credentials (cookie sessions, OAuth access
    tokens of other packages) are not restricted by tool scopes.
    """
    from django_mcp.models import ApiToken

    if isinstance(auth, ApiToken):
        return ToolScopes.parse(auth.scopes)
    return None


def unknown_scopes(scopes: Iterable[str], registry: Registry | None = None) -> list[str]:
    """The scopes that are neither ``read-only`` nor the name of a registered tool."""
    if registry is None:
        from django_mcp.registry import registry as default_registry

        registry = default_registry
    return [scope for scope in scopes if scope != READ_ONLY and scope not in registry]


def scope_choices(registry: Registry | None = None) -> list[tuple[str, str]]:
    """``(value, label)`` pairs for forms: ``read-only`` and every registered tool."""
    if registry is None:
        from django_mcp.registry import registry as default_registry

        registry = default_registry
    names = sorted(tool.name for tool in registry.tools())
    return [(READ_ONLY, "read-only (every tool with readOnlyHint)"), *((n, n) for n in names)]
