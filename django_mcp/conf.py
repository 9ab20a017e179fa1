"""The ``DJANGO_MCP`` settings namespace.

Every value is read again on each access, so ``override_settings`` works in
tests without any cache to reset.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # URL prefix of the MCP endpoints, without leading or trailing slash.
    "URL_PREFIX": "mcp",
    # DRF authentication classes used by both the stream and the POST view.
    "AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "django_mcp.auth.TokenAuthentication",
    ],
    # Seconds between ``: ping`` heartbeat comments on an open stream.
    "HEARTBEAT_INTERVAL": 15.0,
    # Items per page in ``tools/list`` (and other list methods).
    "PAGE_SIZE": 50,
    # Name, version and instructions announced in ``initialize``.
    "SERVER_NAME": "django-mcp",
    "SERVER_VERSION": None,
    "INSTRUCTIONS": None,
    # Largest accepted POST body, in bytes.
    "MAX_BODY_SIZE": 4 * 1024 * 1024,
    # Deepest accepted JSON nesting of an incoming message.
    "MAX_JSON_DEPTH": 64,
    # Security (docs/security.md) -------------------------------------------
    # Origins besides the site's own that may call the endpoints from a browser:
    # "https://app.example.com", "https://*.example.com" or "*" (any origin).
    "ALLOWED_ORIGINS": [],
    # Streams one user may hold open at once (None: no limit).
    "MAX_SESSIONS_PER_USER": 100,
    # Messages per minute per credential (or per user, for cookie sessions);
    # a batch counts each message. None: no limit.
    "RATE_LIMIT": 600,
    # Django cache alias of the rate-limit counters: share it between workers.
    "RATE_LIMIT_CACHE": "default",
    # OAuth 2.1 resource server (RFC 9728 metadata at /.well-known/oauth-protected-resource):
    # issuer URLs of the authorization servers whose access tokens are accepted.
    "AUTHORIZATION_SERVERS": [],
    # Canonical URL of this MCP server (default: <scheme>://<host>/<URL_PREFIX>).
    "RESOURCE_URL": None,
    # Scopes the authorization servers issue for this server (listed, not enforced).
    "SCOPES_SUPPORTED": [],
    # A page for humans about this server, linked from the metadata.
    "RESOURCE_DOCUMENTATION": None,
    # Channel layer alias used to reach sessions held by other worker processes.
    "CHANNEL_LAYER": "default",
    # Seconds between a worker's batched write of its live sessions' counters,
    # last activity and liveness (heartbeat) timestamp.
    "SESSION_SYNC_INTERVAL": 30.0,
    # A live session whose worker heartbeat is older than this many seconds is
    # closed as "worker-lost" by ``mcp_clearsessions``.
    "SESSION_STALE_AFTER": 120.0,
    # Close a stream after this many seconds without a message; None keeps it open.
    "SESSION_IDLE_TIMEOUT": None,
    # Streamable HTTP: end a session after this many seconds without a request
    # while no GET stream is open (clients often never send DELETE); None never.
    "STREAMABLE_SESSION_TIMEOUT": 3600.0,
    # ``mcp_clearsessions`` deletes sessions closed longer ago than this (None keeps them).
    "SESSION_RETENTION_DAYS": 30,
    # ``mcp_clearsessions`` deletes tool-call log rows older than this (None keeps them).
    "TOOL_CALL_RETENTION_DAYS": 90,
    # Write a ToolCall row for every tools/call.
    "LOG_TOOL_CALLS": True,
    # Dotted path of the object told about every tools/call (None: nobody).
    "CALL_RECORDER": "django_mcp.calllog.recorder",
    # How many worker processes serve MCP; a hint for the system checks.
    "WORKERS": None,
    # Seconds a worker waits for another worker to acknowledge a forwarded
    # message before it answers 404 and treats that worker as gone.
    "ROUTE_TIMEOUT": 5.0,
    # Skip Twisted's parsing of POSTed forms under daphne (daphne never uses
    # it; see django_mcp.transports.daphne).
    "DAPHNE_SKIP_FORM_PARSING": True,
    # Under daphne, move everything loaded at start-up (Django, the registry,
    # schemas) out of the garbage collector's full passes once the server runs.
    "DAPHNE_FREEZE_GC": True,
    # Seconds a stream's bound credentials are trusted on the POST fast path
    # before DRF authenticates them again (revocation is immediate regardless).
    "AUTH_RECHECK_INTERVAL": 60.0,
    # Seconds a tool waits for the client to answer sampling, elicitation or
    # roots requests (a person may be answering) before giving up.
    "CLIENT_REQUEST_TIMEOUT": 300.0,
    # Lowest level of ctx.log() messages sent before the client sets its own
    # with logging/setLevel (debug, info, notice, warning, error, ...).
    "LOG_LEVEL": "info",
}


class MCPSettings:
    """Typed accessors for ``settings.DJANGO_MCP``.

    The ``DJANGO_MCP`` dict is looked up once and kept (the hot path reads
    several settings per request, and every read of ``django.conf.settings``
    goes through its lazy proxy); ``override_settings`` and any other
    ``setting_changed`` signal for it drop the kept copy.
    """

    def __init__(self) -> None:
        self._user: dict[str, Any] | None = None

    def _get(self, name: str) -> Any:
        user = self._user
        if user is None:
            user = self._user = getattr(settings, "DJANGO_MCP", {}) or {}
        return user.get(name, DEFAULTS[name])

    def reload(self) -> None:
        """Read ``settings.DJANGO_MCP`` again at the next access."""
        self._user = None

    @property
    def URL_PREFIX(self) -> str:
        return str(self._get("URL_PREFIX")).strip("/")

    @property
    def AUTHENTICATION_CLASSES(self) -> list[str]:
        return list(self._get("AUTHENTICATION_CLASSES"))

    @property
    def HEARTBEAT_INTERVAL(self) -> float:
        # Never 0: the heartbeat timers would spin (check E004 reports it).
        return max(float(self._get("HEARTBEAT_INTERVAL")), 0.05)

    @property
    def PAGE_SIZE(self) -> int:
        return int(self._get("PAGE_SIZE"))

    @property
    def SERVER_NAME(self) -> str:
        return str(self._get("SERVER_NAME"))

    @property
    def SERVER_VERSION(self) -> str:
        from django_mcp import __version__

        value = self._get("SERVER_VERSION")
        return str(value) if value else __version__

    @property
    def INSTRUCTIONS(self) -> str | None:
        value = self._get("INSTRUCTIONS")
        return str(value) if value else None

    @property
    def MAX_BODY_SIZE(self) -> int:
        return int(self._get("MAX_BODY_SIZE"))

    @property
    def MAX_JSON_DEPTH(self) -> int:
        return int(self._get("MAX_JSON_DEPTH"))

    @property
    def ALLOWED_ORIGINS(self) -> list[str]:
        return [str(origin) for origin in self._get("ALLOWED_ORIGINS")]

    @property
    def MAX_SESSIONS_PER_USER(self) -> int | None:
        value = self._get("MAX_SESSIONS_PER_USER")
        return None if value is None else int(value)

    @property
    def RATE_LIMIT(self) -> int | None:
        value = self._get("RATE_LIMIT")
        return None if value is None else int(value)

    @property
    def RATE_LIMIT_CACHE(self) -> str:
        return str(self._get("RATE_LIMIT_CACHE"))

    @property
    def AUTHORIZATION_SERVERS(self) -> list[str]:
        return [str(url) for url in self._get("AUTHORIZATION_SERVERS")]

    @property
    def RESOURCE_URL(self) -> str | None:
        value = self._get("RESOURCE_URL")
        return str(value).rstrip("/") if value else None

    @property
    def SCOPES_SUPPORTED(self) -> list[str]:
        return [str(scope) for scope in self._get("SCOPES_SUPPORTED")]

    @property
    def RESOURCE_DOCUMENTATION(self) -> str | None:
        value = self._get("RESOURCE_DOCUMENTATION")
        return str(value) if value else None

    @property
    def CHANNEL_LAYER(self) -> str:
        return str(self._get("CHANNEL_LAYER"))

    @property
    def DAPHNE_SKIP_FORM_PARSING(self) -> bool:
        return bool(self._get("DAPHNE_SKIP_FORM_PARSING"))

    @property
    def DAPHNE_FREEZE_GC(self) -> bool:
        return bool(self._get("DAPHNE_FREEZE_GC"))

    @property
    def ROUTE_TIMEOUT(self) -> float:
        return float(self._get("ROUTE_TIMEOUT"))

    @property
    def AUTH_RECHECK_INTERVAL(self) -> float:
        return float(self._get("AUTH_RECHECK_INTERVAL"))

    @property
    def SESSION_SYNC_INTERVAL(self) -> float:
        return float(self._get("SESSION_SYNC_INTERVAL"))

    @property
    def SESSION_STALE_AFTER(self) -> float:
        return float(self._get("SESSION_STALE_AFTER"))

    @property
    def SESSION_IDLE_TIMEOUT(self) -> float | None:
        value = self._get("SESSION_IDLE_TIMEOUT")
        return float(value) if value else None

    @property
    def STREAMABLE_SESSION_TIMEOUT(self) -> float | None:
        value = self._get("STREAMABLE_SESSION_TIMEOUT")
        return None if value is None else float(value)

    @property
    def SESSION_RETENTION_DAYS(self) -> float | None:
        value = self._get("SESSION_RETENTION_DAYS")
        return None if value is None else float(value)

    @property
    def TOOL_CALL_RETENTION_DAYS(self) -> float | None:
        value = self._get("TOOL_CALL_RETENTION_DAYS")
        return None if value is None else float(value)

    @property
    def LOG_TOOL_CALLS(self) -> bool:
        return bool(self._get("LOG_TOOL_CALLS"))

    @property
    def CALL_RECORDER(self) -> str | None:
        value = self._get("CALL_RECORDER")
        return str(value) if value else None

    @property
    def WORKERS(self) -> int | None:
        value = self._get("WORKERS")
        return None if value is None else int(value)

    @property
    def CLIENT_REQUEST_TIMEOUT(self) -> float:
        return float(self._get("CLIENT_REQUEST_TIMEOUT"))

    @property
    def LOG_LEVEL(self) -> str:
        return str(self._get("LOG_LEVEL"))


mcp_settings = MCPSettings()


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "DJANGO_MCP":
        mcp_settings.reload()
