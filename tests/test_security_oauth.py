"""OAuth 2.1 resource server: RFC 9728 metadata, the 401 challenge, and a
django-oauth-toolkit access token accepted through DRF (the recipe in docs/security.md)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from django_mcp import auth
from django_mcp.security import screening
from django_mcp.security.oauth import with_resource_metadata
from django_mcp.transports.hub import WORKER_ID
from tests.test_auth import _scope

WELL_KNOWN = "tests.urlconfs.with_well_known"
METADATA = "http://testserver/.well-known/oauth-protected-resource"
#: A session id this worker would own, so an unknown one is answered at once.
UNKNOWN_SESSION = f"/mcp/messages/?session_id=nope.{WORKER_ID}"
PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})


# The metadata document ---------------------------------------------------------------------


@override_settings(ROOT_URLCONF=WELL_KNOWN)
def test_metadata_document_defaults(client: Client) -> None:
    response = client.get("/.well-known/oauth-protected-resource")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {
        "resource": "http://testserver/mcp",
        "bearer_methods_supported": ["header"],
        "resource_name": "django-mcp",
    }


@override_settings(
    ROOT_URLCONF=WELL_KNOWN,
    DJANGO_MCP={
        "AUTHORIZATION_SERVERS": ["https://auth.example.com"],
        "RESOURCE_URL": "https://mcp.example.com/mcp/",
        "SCOPES_SUPPORTED": ["mcp:tools", "read"],
        "RESOURCE_DOCUMENTATION": "https://example.com/docs/mcp",
        "SERVER_NAME": "library",
    },
)
def test_metadata_document_configured(client: Client) -> None:
    document = client.get("/.well-known/oauth-protected-resource").json()
    assert document == {
        "resource": "https://mcp.example.com/mcp",
        "authorization_servers": ["https://auth.example.com"],
        "scopes_supported": ["mcp:tools", "read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "library",
        "resource_documentation": "https://example.com/docs/mcp",
    }
    # RFC 9728 path-suffixed form, as MCP clients try it first.
    assert client.get("/.well-known/oauth-protected-resource/mcp").json() == document
    assert client.get("/.well-known/oauth-protected-resource/mcp/sse").json() == document
    other = client.get("/.well-known/oauth-protected-resource/admin")
    assert other.status_code == 404
    assert "error" in other.json()


@override_settings(ROOT_URLCONF=WELL_KNOWN)
def test_metadata_document_methods(client: Client) -> None:
    assert client.options("/.well-known/oauth-protected-resource").status_code == 204
    refused = client.post("/.well-known/oauth-protected-resource")
    assert refused.status_code == 405
    assert refused.json() == {"error": "Method not allowed: use GET."}


# The challenge -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Bearer", f'Bearer resource_metadata="{METADATA}"'),
        ('Bearer realm="mcp"', f'Bearer realm="mcp", resource_metadata="{METADATA}"'),
        ('Basic realm="api"', f'Basic realm="api", Bearer resource_metadata="{METADATA}"'),
    ],
)
@override_settings(ROOT_URLCONF=WELL_KNOWN)
def test_challenge_gets_the_metadata_url(given: str, expected: str, rf: Any) -> None:
    assert with_resource_metadata(given, rf.get("/mcp/sse")) == expected


@override_settings(ROOT_URLCONF=WELL_KNOWN, DJANGO_MCP={"SCOPES_SUPPORTED": ["mcp"]})
def test_challenge_names_the_scopes(rf: Any) -> None:
    assert with_resource_metadata("Bearer", rf.get("/")) == (
        f'Bearer resource_metadata="{METADATA}", scope="mcp"'
    )


def test_challenge_unchanged_when_the_document_is_not_mounted(rf: Any) -> None:
    assert with_resource_metadata('Bearer realm="mcp"', rf.get("/")) == 'Bearer realm="mcp"'


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=WELL_KNOWN)
def test_both_endpoints_answer_401_with_the_metadata_url(client: Client) -> None:
    post = client.post(UNKNOWN_SESSION, data=PING, content_type="application/json")
    assert post.status_code == 401
    assert post["WWW-Authenticate"] == f'Bearer realm="mcp", resource_metadata="{METADATA}"'
    stream = auth.authenticate(auth.request_from_scope(_scope(_get())))
    assert not stream.ok
    assert stream.www_authenticate == post["WWW-Authenticate"]


def _get(**headers: str) -> Any:
    from django.test import RequestFactory

    return RequestFactory().get("/mcp/sse", **headers)


# django-oauth-toolkit as the authorization server ------------------------------------------

DOT = {"AUTHENTICATION_CLASSES": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"]}


@pytest.fixture
def access_token(django_user_model: Any) -> str:
    from oauth2_provider.models import AccessToken, Application

    user = django_user_model.objects.create_user("ada")
    application = Application.objects.create(
        name="MCP client",
        user=user,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:33418/callback",
    )
    AccessToken.objects.create(
        user=user,
        application=application,
        token="dot-access-token-0123456789",
        expires=timezone.now() + timedelta(hours=1),
        scope="read write",
    )
    return "dot-access-token-0123456789"


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=WELL_KNOWN, DJANGO_MCP=DOT)
def test_dot_access_token_authenticates_the_post(client: Client, access_token: str) -> None:
    response = client.post(
        UNKNOWN_SESSION,
        data=PING,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access_token}",
    )
    # Authenticated: the session is unknown, not the caller.
    assert response.status_code == 404, response.content
    refused = client.post(
        UNKNOWN_SESSION,
        data=PING,
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer not-a-dot-token",
    )
    assert refused.status_code == 401
    assert f'resource_metadata="{METADATA}"' in refused["WWW-Authenticate"]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=WELL_KNOWN, DJANGO_MCP=DOT)
def test_dot_access_token_authenticates_the_stream(access_token: str) -> None:
    result = auth.authenticate(
        auth.request_from_scope(_scope(_get(HTTP_AUTHORIZATION=f"Bearer {access_token}")))
    )
    assert result.ok
    assert result.user.get_username() == "ada"
    missing = auth.authenticate(auth.request_from_scope(_scope(_get())))
    assert not missing.ok
    # The stream consumer drops query-string credentials before authenticating.
    in_query = {**_scope(_get()), "query_string": f"access_token={access_token}".encode()}
    request = auth.request_from_scope(screening.without_query_credentials(in_query))
    assert not auth.authenticate(request).ok


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=WELL_KNOWN, DJANGO_MCP=DOT)
@pytest.mark.parametrize("parameter", ["access_token", "token"])
def test_dot_token_in_the_query_string_is_ignored(
    client: Client, access_token: str, parameter: str
) -> None:
    # django-oauth-toolkit would accept ?access_token= (with a deprecation warning);
    # the MCP view strips it before any authentication class runs.
    response = client.post(
        f"{UNKNOWN_SESSION}&{parameter}={access_token}",
        data=PING,
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=WELL_KNOWN)
def test_api_token_in_the_query_string_is_ignored(client: Client, django_user_model: Any) -> None:
    from django_mcp.models import ApiToken

    _token, raw = ApiToken.create(django_user_model.objects.create_user("bob"))
    for parameter in ("access_token", "token"):
        response = client.post(
            f"{UNKNOWN_SESSION}&{parameter}={raw}", data=PING, content_type="application/json"
        )
        assert response.status_code == 401
