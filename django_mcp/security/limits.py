"""Limits on what one caller may ask of the server.

- **Body size** (``MAX_BODY_SIZE``, 413): :func:`read_body` reads at most one byte
  past the limit, whatever ``Content-Length`` claims or when there is none.
- **Open sessions per user** (``MAX_SESSIONS_PER_USER``, 429): counted from the
  session records when a stream opens, so it holds across workers.
- **Messages per minute** (``RATE_LIMIT``, 429 with ``Retry-After``): a counter per
  caller and per minute in Django's cache (``RATE_LIMIT_CACHE``), so every worker
  that shares the cache shares the budget. A batch costs one per message in it.
  Above 1,000 a minute, a worker leases a slice of the budget at a time
  (:class:`_Leases`), so most messages cost no cache call.
  The caller is the credential when the request carries an ``Authorization``
  header (so each API or OAuth token has its own budget), else the user.
- **JSON nesting depth** (``MAX_JSON_DEPTH``) is enforced by
  :func:`django_mcp.protocol.jsonrpc.loads` (-32700, 400).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import setting_changed
from django.dispatch import receiver

from django_mcp.conf import mcp_settings
from django_mcp.security.rejection import Rejection

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger("django_mcp")

WINDOW = 60
#: Counters outlive their minute a little, so a late increment never resurrects one.
COUNTER_TIMEOUT = 2 * WINDOW
KEY_PREFIX = "django_mcp:rate"


# Body size --------------------------------------------------------------------


def read_body(request: Any, limit: int | None = None) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (``MAX_BODY_SIZE``).

    Reads the stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB
    by default, meant for form data) does not cut in below the MCP limit.
    """
    limit = mcp_settings.MAX_BODY_SIZE if limit is None else limit
    length = str(request.META.get("CONTENT_LENGTH") or "")
    if length.isdigit() and int(length) > limit:
        return None
    body = bytes(request.read(limit + 1))
    return None if len(body) > limit else body


def body_too_large(limit: int | None = None) -> Rejection:
    limit = mcp_settings.MAX_BODY_SIZE if limit is None else limit
    return Rejection(413, f"Request body exceeds {limit} bytes.")


# Open sessions ----------------------------------------------------------------


def check_open_sessions(user: Any) -> Rejection | None:
    """429 when ``user`` already holds ``MAX_SESSIONS_PER_USER`` live sessions (sync; DB)."""
    limit = mcp_settings.MAX_SESSIONS_PER_USER
    if limit is None:
        return None
    from django_mcp.models import McpSession

    # Counting stops at the limit: a user with thousands of streams (allowed by
    # a high limit) does not make every open scan all of them.
    live = (
        McpSession.objects.filter(user_id=user.pk, closed_at__isnull=True)
        .order_by()
        .values("pk")[:limit]
        .count()
    )
    if live < limit:
        return None
    return Rejection(
        429,
        f"Too many open sessions: this user already has {live} (the limit is {limit}). "
        "Close a stream before opening another.",
    )


# Messages per minute ----------------------------------------------------------


def credential_key(fingerprint: str) -> str:
    """The rate-limit identity of a request authenticated by its ``Authorization`` header."""
    return f"c:{fingerprint}"


def user_key(user_id: Any) -> str:
    return f"u:{user_id}"


def rate_key(request: HttpRequest, user: Any) -> str:
    """Whose budget a request spends: its credential's, else its user's."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        # The same digest the POST fast path computes from the header.
        from django_mcp.transports.hub import fingerprint

        return credential_key(fingerprint(header))
    return user_key(getattr(user, "pk", None))


def cost(payload: Any) -> int:
    """How many messages a decoded body holds: a batch counts each item."""
    if isinstance(payload, list):
        return max(len(payload), 1)
    return 1


_shared: dict[str, BaseCache] = {}


def shared_cache(alias: str) -> BaseCache:
    """One cache object per alias for the whole process.

    ``caches[alias]`` is local to each asyncio task, so on the event loop every
    request would build a new backend, and with Redis a new connection pool and
    connection. The backends are thread-safe; one per process is what a
    threaded server would share anyway.
    """
    cache = _shared.get(alias)
    if cache is None:
        cache = _shared[alias] = caches.create_connection(alias)
    return cache


#: A worker takes at most this many messages of a caller's budget at a time.
MAX_LEASE = 100
#: Budgets of at least this many messages per lease message are leased: a limit
#: of 1,000 a minute or less is counted message by message.
LEASE_RATIO = 1000


class _Leases:
    """The part of each caller's budget this worker has taken and not spent yet.

    Counting every message in the shared cache costs a cache round trip per
    message (a blocking one with Redis). For a large limit, a worker instead
    takes ``limit // LEASE_RATIO`` messages (at most ``MAX_LEASE``) in one
    increment and spends them locally. A caller may then reach its ``429`` up
    to that many messages early per worker, never late: at most 0.1% of its
    budget. Limits of 1,000 or less are counted exactly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._left: dict[str, int] = {}

    def spend(self, key: str, window: int, messages: int) -> bool:
        """Spend ``messages`` from this worker's lease; False when it holds too few."""
        with self._lock:
            if window != self._window:
                self._window, self._left = window, {}
                return False
            left = self._left.get(key, 0)
            if left < messages:
                return False
            self._left[key] = left - messages
            return True

    def keep(self, key: str, window: int, unspent: int) -> None:
        with self._lock:
            if window == self._window:
                self._left[key] = unspent

    def clear(self) -> None:
        with self._lock:
            self._window, self._left = -1, {}


_leases = _Leases()


def lease_size(limit: int) -> int:
    return max(1, min(MAX_LEASE, limit // LEASE_RATIO))


@receiver(setting_changed)
def _forget_shared_caches(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CACHES", "DJANGO_MCP"):
        _leases.clear()
    if setting == "CACHES":
        _shared.clear()


def throttle(key: str, messages: int = 1, *, now: float | None = None) -> Rejection | None:
    """Spend ``messages`` of ``key``'s budget for this minute; 429 once it is exceeded.

    Sync. With a limit above 1,000 a minute most calls spend from this
    worker's lease of the budget (see :class:`_Leases`) without a cache call;
    the others make one or two cache calls, a short blocking round trip with
    Redis.
    """
    limit = mcp_settings.RATE_LIMIT
    if limit is None:
        return None
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    if _leases.spend(key, window, messages):
        return None
    taken = max(messages, lease_size(limit))
    cache_key = f"{KEY_PREFIX}:{key}:{window}"
    cache = shared_cache(mcp_settings.RATE_LIMIT_CACHE)
    try:
        try:
            count = cache.incr(cache_key, taken)
        except ValueError:
            # First message of the minute (``add`` loses a race to another worker
            # at most once, and then the key exists).
            if cache.add(cache_key, taken, COUNTER_TIMEOUT):
                count = taken
            else:
                count = cache.incr(cache_key, taken)
    except Exception:
        # A cache outage must not take the MCP endpoints down with it.
        logger.exception(
            "Rate-limit cache %r failed; message allowed", mcp_settings.RATE_LIMIT_CACHE
        )
        return None
    # The messages fit if the budget held them before the rest of the lease.
    if count - taken + messages <= limit:
        _leases.keep(key, window, max(0, min(taken, limit - (count - taken)) - messages))
        return None
    retry_after = max(1, math.ceil((window + 1) * WINDOW - now))
    return Rejection(
        429,
        f"Rate limit exceeded: at most {limit} messages per minute. "
        f"Retry after {retry_after} seconds.",
        {"Retry-After": str(retry_after)},
    )
