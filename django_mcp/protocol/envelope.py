"""The per-request envelope of the stateless revision (2026-07-28).

There is no ``initialize``: every request names its protocol version, the
client's capabilities and (optionally) the client and the log level it wants,
in ``params._meta``. :func:`read_envelope` checks those fields and
:func:`apply` gives a fresh :class:`~django_mcp.protocol.session.ServerSession`
the state a handshake would have given it, for the one request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from django_mcp.protocol.context import LOG_LEVELS
from django_mcp.protocol.jsonrpc import InvalidParams, UnsupportedProtocolVersion

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

#: Every version this server speaks, newest first: what ``server/discover`` and
#: an unsupported-version error list. The handshake versions are served to
#: clients that ``initialize`` (Streamable HTTP sessions, or HTTP+SSE).
SUPPORTED_VERSIONS: list[str] = [
    *reversed(MODERN_PROTOCOL_VERSIONS),
    *reversed(HANDSHAKE_PROTOCOL_VERSIONS),
]


@dataclass(frozen=True, slots=True)
class Envelope:
    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any]
    log_level: str | None = None


def meta_of(params: Any) -> dict[str, Any] | None:
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else None


def read_envelope(params: Any) -> Envelope:
    """The envelope of a request's ``params``.

    Raises :class:`InvalidParams` (-32602) when a required field is missing or
    malformed, and :class:`UnsupportedProtocolVersion` (-32022) for a version
    that is not a stateless one this server speaks.
    """
    meta = meta_of(params)
    if meta is None:
        raise InvalidParams(
            f'Invalid params: "_meta" must be an object carrying {PROTOCOL_VERSION_META_KEY!r} '
            f"and {CLIENT_CAPABILITIES_META_KEY!r}"
        )
    missing = [
        key for key in (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY) if key not in meta
    ]
    if missing:
        raise InvalidParams(f"Invalid params: _meta is missing {', '.join(missing)}")
    version = meta[PROTOCOL_VERSION_META_KEY]
    if not isinstance(version, str):
        raise InvalidParams(f"Invalid params: {PROTOCOL_VERSION_META_KEY} must be a string")
    if version not in MODERN_PROTOCOL_VERSIONS:
        raise UnsupportedProtocolVersion(version, SUPPORTED_VERSIONS)
    capabilities = meta[CLIENT_CAPABILITIES_META_KEY]
    if not isinstance(capabilities, dict):
        raise InvalidParams(f"Invalid params: {CLIENT_CAPABILITIES_META_KEY} must be an object")
    info = meta.get(CLIENT_INFO_META_KEY)
    if info is not None and not isinstance(info, dict):
        raise InvalidParams(f"Invalid params: {CLIENT_INFO_META_KEY} must be an object")
    level = meta.get(LOG_LEVEL_META_KEY)
    if level is not None and level not in LOG_LEVELS:
        raise InvalidParams(
            f"Invalid params: {LOG_LEVEL_META_KEY} must be one of {', '.join(LOG_LEVELS)}"
        )
    return Envelope(
        protocol_version=version,
        client_capabilities=capabilities,
        client_info=info or {},
        log_level=level,
    )


def apply(session: ServerSession, envelope: Envelope) -> None:
    """Give ``session`` what the handshake gives a session, for one request."""
    session.protocol_version = envelope.protocol_version
    session.client_capabilities = envelope.client_capabilities
    session.client_info = envelope.client_info
    session.log_level = envelope.log_level
    session.initialized = True
