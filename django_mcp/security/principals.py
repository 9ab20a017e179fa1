"""Credentials the authentication classes accepted lately, by fingerprint.

Opening a stream, and every request of the stateless transport, would
otherwise run the DRF authentication classes (a token lookup and the user's
permissions: several queries). A credential they accepted is remembered here
for ``AUTH_RECHECK_INTERVAL`` seconds, never past the token's own expiry, the
same trust a live stream's binding gives its POSTs. Revoking or deleting a
token, or deactivating a user, forgets it at once on every worker (through
:meth:`Hub.on_invalidate <django_mcp.transports.hub.Hub.on_invalidate>`).

Only header credentials are remembered (``AuthResult.credentials``); a cookie
session is authenticated every time, with its CSRF check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_mcp import auth
from django_mcp.transports.hub import Binding, hub, new_binding

#: Credentials remembered at most (the oldest go first).
PRINCIPAL_CACHE_SIZE = 10_000


@dataclass(slots=True)
class _Principal:
    result: auth.AuthResult
    binding: Binding


class Principals:
    """Accepted credentials by fingerprint, each with the binding that bounds its trust.

    Read from the database thread and the event loop; every operation is a
    single dict operation or works on a snapshot.
    """

    def __init__(self) -> None:
        self._known: dict[str, _Principal] = {}

    def get(self, credentials: str) -> auth.AuthResult | None:
        known = self._known.get(credentials)
        if known is None:
            return None
        if not known.binding.admits(credentials):
            self._known.pop(credentials, None)
            return None
        return known.result

    def remember(self, credentials: str, result: auth.AuthResult) -> None:
        if len(self._known) >= PRINCIPAL_CACHE_SIZE:
            self._known.pop(next(iter(self._known), ""), None)
        self._known[credentials] = _Principal(
            result, new_binding(result.user.pk, result.token, credentials)
        )

    def invalidate(self, token_ids: set[Any], user_ids: set[Any]) -> None:
        for credentials, known in list(self._known.items()):
            binding = known.binding
            if binding.user_id in user_ids or (
                binding.token_id is not None and binding.token_id in token_ids
            ):
                self._known.pop(credentials, None)

    def clear(self) -> None:
        self._known.clear()

    def __len__(self) -> int:
        return len(self._known)


principals = Principals()
hub.on_invalidate(principals.invalidate)
