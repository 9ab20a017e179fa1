"""Bearer tokens, ``mcp_create_token`` and the authentication both endpoints share."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from django_mcp import auth
from django_mcp.models import ApiToken, digest

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model: Any) -> AbstractBaseUser:
    user: AbstractBaseUser = django_user_model.objects.create_user("ada")
    return user


@pytest.fixture
def token(user: AbstractBaseUser) -> tuple[ApiToken, str]:
    return ApiToken.create(user, name="laptop")


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def authenticate(**headers: str) -> auth.AuthResult:
    request = RequestFactory().get("/mcp/sse", **headers)
    return auth.authenticate(auth.request_from_scope(_scope(request)))


def _scope(request: Any) -> dict[str, Any]:
    headers = [
        (key[5:].lower().replace("_", "-").encode(), str(value).encode("latin-1"))
        for key, value in request.META.items()
        if key.startswith("HTTP_")
    ]
    return {
        "type": "http",
        "method": "GET",
        "path": "/mcp/sse",
        "raw_path": b"/mcp/sse",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


# Tokens ---------------------------------------------------------------------------------


def test_create_stores_only_the_digest(token: tuple[ApiToken, str]) -> None:
    obj, raw = token
    assert raw.startswith("mcp_")
    assert len(raw) > 40
    obj.refresh_from_db()
    assert obj.digest == hashlib.sha256(raw.encode()).hexdigest() == digest(raw)
    assert obj.prefix == raw[:12]
    stored = [str(getattr(obj, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert not any(raw in value for value in stored)
    assert raw not in str(obj)
    assert obj.prefix in str(obj)


def test_tokens_are_unique(user: AbstractBaseUser) -> None:
    raws = {ApiToken.create(user)[1] for _ in range(20)}
    assert len(raws) == 20


def test_is_active_expiry_and_revocation(token: tuple[ApiToken, str]) -> None:
    obj, _ = token
    assert obj.is_active
    assert list(ApiToken.objects.active()) == [obj]
    obj.expires_at = timezone.now() + timedelta(hours=1)
    obj.save()
    assert obj.is_active and ApiToken.objects.active().count() == 1
    obj.expires_at = timezone.now() - timedelta(seconds=1)
    obj.save()
    assert not obj.is_active and ApiToken.objects.active().count() == 0
    obj.expires_at = None
    obj.save()
    obj.revoke()
    revoked_at = obj.revoked_at
    assert revoked_at is not None
    obj.revoke()  # idempotent: the first revocation time stays
    obj.refresh_from_db()
    assert obj.revoked_at == revoked_at
    assert not obj.is_active and ApiToken.objects.active().count() == 0


# Authentication ---------------------------------------------------------------------------


def test_valid_token_authenticates(user: AbstractBaseUser, token: tuple[ApiToken, str]) -> None:
    obj, raw = token
    result = authenticate(**bearer(raw))
    assert result.ok
    assert result.user == user
    assert result.token == obj


def test_lowercase_bearer_keyword(token: tuple[ApiToken, str]) -> None:
    result = authenticate(HTTP_AUTHORIZATION=f"bearer {token[1]}")
    assert result.ok


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer mcp_nope", "Invalid, expired or revoked token."),
        ("Bearer", "Invalid Authorization header: expected 'Bearer <token>'."),
        ("Bearer a b", "Invalid Authorization header: expected 'Bearer <token>'."),
        ("Basic YWRhOnB3", "Authentication credentials were not provided."),
    ],
)
def test_rejected_credentials(token: Any, header: str | None, message: str) -> None:
    result = authenticate(**({"HTTP_AUTHORIZATION": header} if header else {}))
    assert not result.ok
    assert result.error == message
    assert result.www_authenticate == 'Bearer realm="mcp"'
    assert not result.user.is_authenticated


def test_non_ascii_token_is_rejected() -> None:
    request = RequestFactory().get("/")
    request.META["HTTP_AUTHORIZATION"] = "Bearer caf\u00e9".encode().decode("latin-1")
    result = auth.authenticate(request)
    assert result.error == "Invalid token."


def test_expired_token_is_rejected(token: tuple[ApiToken, str]) -> None:
    obj, raw = token
    obj.expires_at = timezone.now() - timedelta(minutes=1)
    obj.save()
    assert authenticate(**bearer(raw)).error == "Invalid, expired or revoked token."


def test_revoked_token_is_rejected(token: tuple[ApiToken, str]) -> None:
    obj, raw = token
    obj.revoke()
    assert authenticate(**bearer(raw)).error == "Invalid, expired or revoked token."


def test_inactive_user_is_rejected(user: Any, token: tuple[ApiToken, str]) -> None:
    user.is_active = False
    user.save()
    assert authenticate(**bearer(token[1])).error == "User inactive or deleted."


def test_deleted_user_takes_the_token_along(user: Any, token: tuple[ApiToken, str]) -> None:
    user.delete()
    assert authenticate(**bearer(token[1])).error == "Invalid, expired or revoked token."


def test_session_cookie_authenticates(client: Client, user: Any) -> None:
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    result = authenticate(HTTP_COOKIE=f"sessionid={cookie}")
    assert result.ok
    assert result.user == user
    assert result.token is None


@override_settings(DJANGO_MCP={"AUTHENTICATION_CLASSES": ["django_mcp.auth.TokenAuthentication"]})
def test_authentication_classes_setting(client: Client, user: Any) -> None:
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    assert not authenticate(HTTP_COOKIE=f"sessionid={cookie}").ok


def test_permissions_are_cached_at_authentication(
    user: Any, token: tuple[ApiToken, str], django_assert_num_queries: Any
) -> None:
    result = authenticate(**bearer(token[1]))
    with django_assert_num_queries(0):
        assert result.user.has_perms(["auth.view_user"]) is False


# touch() --------------------------------------------------------------------------------------


def test_touch_writes_at_most_once_a_minute(
    token: tuple[ApiToken, str], django_assert_num_queries: Any
) -> None:
    obj, _ = token
    start = timezone.now()

    def touch_at(moment: Any, queries: int) -> None:
        with (
            mock.patch("django_mcp.models.timezone.now", return_value=moment),
            django_assert_num_queries(queries),
        ):
            obj.touch()

    touch_at(start, 1)
    touch_at(start, 0)
    touch_at(start + timedelta(seconds=59), 0)
    touch_at(start + timedelta(seconds=60), 1)
    touch_at(start + timedelta(seconds=61), 0)
    obj.refresh_from_db()
    assert obj.last_used_at == start + timedelta(seconds=60)


def test_authentication_records_last_use(token: tuple[ApiToken, str]) -> None:
    obj, raw = token
    assert obj.last_used_at is None
    authenticate(**bearer(raw))
    obj.refresh_from_db()
    first = obj.last_used_at
    assert first is not None
    authenticate(**bearer(raw))
    obj.refresh_from_db()
    assert obj.last_used_at == first


# mcp_create_token ----------------------------------------------------------------------------


def run_create_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("mcp_create_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_token_prints_the_raw_token_alone_on_the_last_line(user: Any) -> None:
    out, err = run_create_token("ada", "--name", "cli")
    lines = out.splitlines()
    raw = lines[-1]
    assert raw == raw.strip() and " " not in raw
    assert raw.startswith("mcp_")
    assert raw not in err
    obj = ApiToken.objects.get()
    assert obj.name == "cli"
    assert obj.user == user
    assert obj.expires_at is None
    assert obj.prefix in err
    result = authenticate(**bearer(raw))
    assert result.ok and result.user == user


def test_create_token_with_expiry(user: Any) -> None:
    out, _ = run_create_token("ada", "--expires-in-days", "3")
    obj = ApiToken.objects.get()
    assert obj.expires_at is not None
    remaining = obj.expires_at - timezone.now()
    assert timedelta(days=2, hours=23) < remaining <= timedelta(days=3)
    assert authenticate(**bearer(out.splitlines()[-1])).ok


def test_create_token_unknown_user() -> None:
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run_create_token("ghost")
    assert ApiToken.objects.count() == 0


# The messages view answers 401 with a Bearer challenge ---------------------------------------


MESSAGES = "/mcp/messages/?session_id=abc"


def post(client: Client, body: Any = "{}", path: str = MESSAGES, **headers: str) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.generic("POST", path, data, content_type="application/json", **headers)


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer mcp_wrong"}, {"HTTP_AUTHORIZATION": "Bearer a b"}],
)
def test_messages_view_without_valid_credentials_is_401(
    client: Client, headers: dict[str, str]
) -> None:
    response = post(client, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()


def test_messages_view_revoked_token_is_401(client: Client, token: tuple[ApiToken, str]) -> None:
    token[0].revoke()
    response = post(client, **bearer(token[1]))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_messages_view_unknown_session_is_404(client: Client, token: tuple[ApiToken, str]) -> None:
    response = post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, **bearer(token[1]))
    assert response.status_code == 404
    assert response.json() == {"error": "Unknown or closed session: open a new stream."}


def test_messages_view_missing_session_id_is_400(
    client: Client, token: tuple[ApiToken, str]
) -> None:
    response = post(client, path="/mcp/messages/", **bearer(token[1]))
    assert response.status_code == 400
    assert response.json() == {"error": "Missing session_id query parameter."}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[" * 100 + b"]" * 100])
def test_messages_view_body_not_json_is_400_parse_error(
    client: Client, token: tuple[ApiToken, str], body: bytes
) -> None:
    response = post(client, body, **bearer(token[1]))
    assert response.status_code == 400
    payload = response.json()
    assert payload["jsonrpc"] == "2.0"
    assert payload["id"] is None
    assert payload["error"]["code"] == -32700


@override_settings(DJANGO_MCP={"MAX_BODY_SIZE": 100})
def test_messages_view_oversize_body_is_413(client: Client, token: tuple[ApiToken, str]) -> None:
    response = post(client, {"pad": "x" * 200}, **bearer(token[1]))
    assert response.status_code == 413
    assert "100 bytes" in response.json()["error"]


def test_messages_view_get_is_405(client: Client, token: tuple[ApiToken, str]) -> None:
    response = client.get(MESSAGES, **bearer(token[1]))
    assert response.status_code == 405


def test_health(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = client.get("/mcp/health")
    assert response.status_code == 200
    payload = response.json()
    assert payload["status"] == "ok"
    assert payload["tools"] >= 5
    assert payload["sessions"] == 0
    assert client.post("/mcp/health").status_code == 405
