"""Authentication: the bearer-token class and the one path both endpoints use.

The stream consumer and the POST view authenticate through the same DRF
authentication classes (``DJANGO_MCP["AUTHENTICATION_CLASSES"]``), so any DRF
class, a JWT or OAuth2 one included, works for both.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.request import Request

from django_mcp.conf import mcp_settings
from django_mcp.models import ApiToken, digest
from django_mcp.security.oauth import with_resource_metadata

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` with an :class:`~django_mcp.models.ApiToken`.

    Tokens are only ever read from the header, never from the query string.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: expected 'Bearer <token>'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return self.authenticate_credentials(raw)

    def authenticate_credentials(self, raw: str) -> tuple[AbstractBaseUser, ApiToken]:
        token = ApiToken.objects.active().select_related("user").filter(digest=digest(raw)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="mcp"'


def get_authenticators() -> list[BaseAuthentication]:
    return [import_string(path)() for path in mcp_settings.AUTHENTICATION_CLASSES]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who opened a stream, or why not."""

    user: Any
    token: Any = None
    error: str | None = None
    www_authenticate: str | None = None
    #: The ``Authorization`` header value, when a header-based class (not the
    #: cookie session) authenticated the request: what the stream binds to.
    credentials: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def request_from_scope(scope: dict[str, Any]) -> HttpRequest:
    """A Django request for an ASGI scope, with the session and lazy user the
    session and authentication middleware would attach."""
    request = ASGIRequest(scope, io.BytesIO(b""))
    if "django.contrib.sessions" in settings.INSTALLED_APPS:
        from importlib import import_module

        engine = import_module(settings.SESSION_ENGINE)
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        request.session = engine.SessionStore(session_key)
    if "django.contrib.auth" in settings.INSTALLED_APPS and hasattr(request, "session"):
        from django.contrib.auth import get_user

        request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]
    else:
        request.user = AnonymousUser()
    return request


def authenticate(request: HttpRequest) -> AuthResult:
    """Run the configured DRF authenticators on ``request`` (sync; touches the DB)."""
    authenticators = get_authenticators()
    drf_request = Request(request, authenticators=authenticators)
    try:
        user = drf_request.user
    except exceptions.APIException as exc:
        return AuthResult(
            user=AnonymousUser(), error=str(exc.detail), www_authenticate=challenge(drf_request)
        )
    if user is None or not user.is_authenticated:
        return AuthResult(
            user=AnonymousUser(),
            error="Authentication credentials were not provided.",
            www_authenticate=challenge(drf_request),
        )
    # Load the permission caches now, in this thread, so per-tool permission
    # checks later run on the event loop without a database query.
    if hasattr(user, "get_all_permissions"):
        user.get_all_permissions()
    credentials = None
    header = request.META.get("HTTP_AUTHORIZATION")
    if header and not isinstance(drf_request.successful_authenticator, SessionAuthentication):
        credentials = header
    return AuthResult(user=user, token=drf_request.auth, credentials=credentials)


def challenge(request: Request) -> str:
    """The ``WWW-Authenticate`` value: the first configured class that has one, with
    the OAuth resource metadata URL (RFC 9728) when that document is mounted."""
    for authenticator in request.authenticators or ():
        header = getattr(authenticator, "authenticate_header", lambda _request: None)(request)
        if header:
            return with_resource_metadata(str(header), request)
    return with_resource_metadata('Bearer realm="mcp"', request)
