"""DNS-rebinding protection, and where credentials may come from.

A browser page on ``evil.example`` whose name an attacker re-points at the
server's address can make the victim's browser talk to the MCP endpoints. Two
checks stop that before authentication runs:

- the ``Host`` header must name this site: it is validated against Django's
  ``ALLOWED_HOSTS`` exactly as :meth:`~django.http.HttpRequest.get_host` does
  (``421 Misdirected Request`` otherwise);
- an ``Origin`` header, which browsers send on cross-site requests and MCP
  clients outside a browser do not, must be the site's own origin or one listed
  in ``DJANGO_MCP["ALLOWED_ORIGINS"]`` (``403 Forbidden`` otherwise).

Access tokens are read from the ``Authorization`` header only (MCP
authorization, "Access Token Usage"): :func:`without_query_credentials` drops
``access_token`` and ``token`` from the query string before any DRF
authentication class can see them.

The checks work on an ASGI scope (stream consumer, POST fast path) or on a
Django request (the DRF view), with the same rules.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from django_mcp.conf import mcp_settings
from django_mcp.security.rejection import Rejection

if TYPE_CHECKING:
    from django.http import HttpRequest

#: Query parameters that carry credentials in some clients; never honoured.
QUERY_CREDENTIALS = frozenset({"access_token", "token"})

DEFAULT_PORTS = {"http": "80", "https": "443"}


# Entry points ---------------------------------------------------------------


def screen_scope(scope: Mapping[str, Any]) -> Rejection | None:
    """Host and Origin checks of an ASGI HTTP request."""
    meta = _meta_from_scope(scope)
    return _screen(meta, _scheme(meta, str(scope.get("scheme") or "http")))


def screen_request(request: HttpRequest) -> Rejection | None:
    """Host and Origin checks of a Django request; also drops query-string credentials."""
    rejection = _screen(request.META, request.scheme or "http")
    if rejection is None:
        strip_query_credentials(request)
    return rejection


def without_query_credentials(scope: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``scope`` whose query string has no credential parameters."""
    query = scope.get("query_string", b"")
    cleaned = _clean_query(query.decode("latin-1")) if query else None
    copy = dict(scope)
    if cleaned is not None:
        copy["query_string"] = cleaned.encode("latin-1")
    return copy


def strip_query_credentials(request: HttpRequest) -> None:
    """Remove credential parameters from ``request``'s query string, in place."""
    cleaned = _clean_query(request.META.get("QUERY_STRING", ""))
    if cleaned is not None:
        request.META["QUERY_STRING"] = cleaned
        # ``GET`` is a cached property of Django's request classes.
        request.__dict__.pop("GET", None)


# Host -----------------------------------------------------------------------


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS``, with Django's own fallback when DEBUG is on and it is empty."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def raw_host(meta: Mapping[str, Any]) -> str:
    """The host the client asked for, as :meth:`HttpRequest._get_raw_host` reads it."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return str(meta["HTTP_X_FORWARDED_HOST"])
    if "HTTP_HOST" in meta:
        return str(meta["HTTP_HOST"])
    host = str(meta.get("SERVER_NAME", ""))
    port = str(meta.get("SERVER_PORT", ""))
    if port and port not in DEFAULT_PORTS.values():
        host = f"{host}:{port}"
    return host


@functools.lru_cache(maxsize=256)
def _host_allowed(domain: str) -> bool:
    """Whether ``domain`` matches ``ALLOWED_HOSTS``; remembered, as the same few
    hosts come with every request (forgotten when the settings change)."""
    return bool(domain) and validate_host(domain, allowed_hosts())


@receiver(setting_changed)
def _forget_hosts(*, setting: str, **kwargs: Any) -> None:
    if setting in ("ALLOWED_HOSTS", "DEBUG"):
        _host_allowed.cache_clear()


def check_host(meta: Mapping[str, Any]) -> Rejection | None:
    domain, _port = split_domain_port(raw_host(meta))
    if _host_allowed(domain):
        return None
    return Rejection(
        421,
        "Misdirected request: the Host header does not name this server "
        "(it is not in ALLOWED_HOSTS).",
    )


# Origin ---------------------------------------------------------------------


def check_origin(meta: Mapping[str, Any], scheme: str) -> Rejection | None:
    origin = meta.get("HTTP_ORIGIN")
    if origin is None or origin_allowed(str(origin), scheme, raw_host(meta)):
        return None
    return Rejection(
        403,
        f"Forbidden: requests from origin {str(origin)[:200]!r} are not allowed. "
        'List it in DJANGO_MCP["ALLOWED_ORIGINS"] to allow it.',
    )


def origin_allowed(origin: str, scheme: str, host: str) -> bool:
    """Whether ``origin`` is the request's own origin or an allowed one."""
    allowed = mcp_settings.ALLOWED_ORIGINS
    if "*" in allowed:
        return True
    origin = origin.strip()
    if origin.lower() == "null":
        return "null" in allowed
    parts = _origin_parts(origin)
    if parts is None:
        return False
    own = _origin_parts(f"{scheme}://{host}")
    if own is not None and parts == own:
        return True
    return any(_matches(parts, pattern) for pattern in allowed)


def _origin_parts(origin: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of an origin, the port made explicit; None if malformed."""
    try:
        split = urlsplit(origin)
        port = split.port
    except ValueError:
        return None
    scheme = split.scheme.lower()
    if not scheme or not split.hostname or split.path not in ("", "/"):
        return None
    if split.query or split.fragment or split.username or split.password:
        return None
    default = DEFAULT_PORTS.get(scheme, "")
    return scheme, split.hostname.lower().rstrip("."), str(port) if port else default


def _matches(parts: tuple[str, str, str], pattern: str) -> bool:
    """``pattern`` is an origin, or ``scheme://*.domain[:port]`` for any subdomain."""
    wildcard = "://*." in pattern
    expected = _origin_parts(pattern.replace("://*.", "://", 1) if wildcard else pattern)
    if expected is None:
        return False
    scheme, host, port = parts
    if (scheme, port) != (expected[0], expected[2]):
        return False
    if wildcard:
        return host != expected[1] and is_same_domain(host, "." + expected[1])
    return host == expected[1]


# Helpers --------------------------------------------------------------------


def _screen(meta: Mapping[str, Any], scheme: str) -> Rejection | None:
    return check_host(meta) or check_origin(meta, scheme)


def _scheme(meta: Mapping[str, Any], default: str) -> str:
    """The request scheme, honouring ``SECURE_PROXY_SSL_HEADER`` as Django does."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        value = meta.get(header)
        if value is not None:
            return "https" if str(value).split(",")[0].strip() == secure_value else "http"
    return default


_SCOPE_HEADERS = {
    b"host": "HTTP_HOST",
    b"origin": "HTTP_ORIGIN",
    b"x-forwarded-host": "HTTP_X_FORWARDED_HOST",
}


def _meta_from_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The few ``META`` keys these checks read, from an ASGI scope's headers."""
    wanted = dict(_SCOPE_HEADERS)
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy and str(proxy[0]).startswith("HTTP_"):
        wanted[str(proxy[0])[5:].lower().replace("_", "-").encode("latin-1")] = str(proxy[0])
    meta: dict[str, Any] = {}
    for name, value in scope.get("headers", ()):
        key = wanted.get(bytes(name).lower())
        if key is not None:
            text = bytes(value).decode("latin-1")
            # Repeated headers are joined as the ASGI handler does.
            meta[key] = f"{meta[key]},{text}" if key in meta else text
    server = scope.get("server")
    if server:
        meta["SERVER_NAME"], meta["SERVER_PORT"] = str(server[0]), str(server[1] or "")
    return meta


def _clean_query(query: str) -> str | None:
    """``query`` without credential parameters, or None when it had none."""
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key not in QUERY_CREDENTIALS]
    if len(kept) == len(pairs):
        return None
    return urlencode(kept)
