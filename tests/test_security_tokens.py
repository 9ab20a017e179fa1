"""API tokens as a product: the commands and the admin (create, list, filter, search,
revoke; the raw value shown once)."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from django_mcp.models import ApiToken, digest
from django_mcp.security import tokens

pytestmark = pytest.mark.django_db

RAW = re.compile(r"mcp_[A-Za-z0-9_-]{43}")


@pytest.fixture
def ada(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("ada")


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# mcp_create_token --------------------------------------------------------------------------


def test_create_token_with_scopes_and_expiry(ada: Any) -> None:
    out, err = run(
        "mcp_create_token",
        "ada",
        "--scope",
        "read-only",
        "--scope",
        "add",
        "--expires-in-days",
        "7",
        "--name",
        "ci",
    )
    raw = out.strip().splitlines()[-1]
    assert RAW.fullmatch(raw)
    token = ApiToken.objects.get(digest=digest(raw))
    assert token.scopes == ["read-only", "add"]
    assert token.name == "ci"
    assert token.expires_at is not None
    assert timedelta(days=6.9) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert "limited to read-only, add" in err
    assert raw not in err


def test_create_token_refuses_unknown_scopes(ada: Any) -> None:
    with pytest.raises(CommandError, match=r"Unknown scope.*'no_such_tool'"):
        run("mcp_create_token", "ada", "--scope", "no_such_tool")
    with pytest.raises(CommandError, match="positive number of days"):
        run("mcp_create_token", "ada", "--expires-in-days", "-1")
    assert not ApiToken.objects.exists()


# mcp_list_tokens ---------------------------------------------------------------------------


def test_list_tokens_shows_no_secret(ada: Any, django_user_model: Any) -> None:
    bob = django_user_model.objects.create_user("bob")
    active, raw_active = ApiToken.create(ada, name="laptop", scopes=["read-only"])
    revoked, raw_revoked = ApiToken.create(bob, name="old")
    revoked.revoke()
    expired, raw_expired = ApiToken.create(ada, expires_at=timezone.now() - timedelta(days=1))

    out, _ = run("mcp_list_tokens")
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["id", "prefix", "user", "name"]
    assert len(lines) == 4
    for raw in (raw_active, raw_revoked, raw_expired):
        assert raw not in out
    for token in (active, revoked, expired):
        assert token.digest not in out
        assert f"{token.prefix}…" in out
    assert "read-only" in out and "(all)" in out
    statuses = [line.split()[-1] for line in lines[1:]]
    assert statuses == ["active", "revoked", "expired"]

    only_ada, _ = run("mcp_list_tokens", "--user", "ada")
    assert "bob" not in only_ada and len(only_ada.strip().splitlines()) == 3
    only_revoked, _ = run("mcp_list_tokens", "--status", "revoked")
    assert len(only_revoked.strip().splitlines()) == 2 and "old" in only_revoked


# mcp_revoke_token --------------------------------------------------------------------------


def test_revoke_by_prefix_id_and_user(ada: Any, django_user_model: Any) -> None:
    first, _ = ApiToken.create(ada)
    second, _ = ApiToken.create(ada)
    third, _ = ApiToken.create(django_user_model.objects.create_user("bob"))

    out, _ = run("mcp_revoke_token", f"{first.prefix}…")
    assert out.strip() == "Revoked 1 token(s)."
    out, _ = run("mcp_revoke_token", str(second.pk), str(first.pk))
    assert out.strip() == "Revoked 1 token(s) (1 already revoked)."
    for token in (first, second, third):
        token.refresh_from_db()
    assert first.revoked_at and second.revoked_at and third.revoked_at is None

    out, _ = run("mcp_revoke_token", "--user", "bob")
    third.refresh_from_db()
    assert third.revoked_at is not None


def test_revoke_errors(ada: Any) -> None:
    with pytest.raises(CommandError, match="Name the tokens"):
        run("mcp_revoke_token")
    with pytest.raises(CommandError, match="No token with id or prefix 'mcp_nothing'"):
        run("mcp_revoke_token", "mcp_nothing")
    with pytest.raises(CommandError, match="No user named 'zed'"):
        run("mcp_revoke_token", "--user", "zed")


def test_revoking_ends_the_open_streams_of_the_token(ada: Any) -> None:
    token, _ = ApiToken.create(ada)
    with mock.patch("django_mcp.invalidation.invalidate") as invalidate:
        assert tokens.revoke([token]) == 1
    invalidate.assert_called_once_with(token_ids=[token.pk])


# The admin ---------------------------------------------------------------------------------


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.login(username="root", password="pw")
    return client


def test_admin_shows_the_raw_token_once_after_creation(staff: Client, ada: Any) -> None:
    response = staff.post(
        "/admin/django_mcp/apitoken/add/",
        {
            "user": str(ada.pk),
            "name": "from admin",
            "scopes": ["read-only"],
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    found = RAW.findall(response.content.decode())
    assert len(set(found)) == 1, found
    raw = found[0]
    token = ApiToken.objects.get(digest=digest(raw))
    assert token.user == ada and token.scopes == ["read-only"] and token.name == "from admin"

    # Never again: not on the list, not on the change page, and not the digest either.
    for url in (
        "/admin/django_mcp/apitoken/",
        f"/admin/django_mcp/apitoken/{token.pk}/change/",
    ):
        page = staff.get(url).content.decode()
        assert raw not in page
        assert token.digest not in page
        assert token.prefix in page


def test_admin_refuses_unknown_scopes_and_past_expiry(staff: Client, ada: Any) -> None:
    response = staff.post(
        "/admin/django_mcp/apitoken/add/",
        {
            "user": str(ada.pk),
            "scopes": ["no_such_tool"],
            "expires_at_0": "2000-01-01",
            "expires_at_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "scopes" in errors and "expires_at" in errors
    assert not ApiToken.objects.exists()


def test_admin_list_filter_search_and_revoke(
    staff: Client, ada: Any, django_user_model: Any
) -> None:
    bob = django_user_model.objects.create_user("bob")
    laptop, _ = ApiToken.create(ada, name="laptop")
    ci, _ = ApiToken.create(bob, name="ci-runner")
    gone, _ = ApiToken.create(bob, name="gone")
    gone.revoke()

    def names(query: str) -> set[str]:
        response = staff.get(f"/admin/django_mcp/apitoken/{query}")
        assert response.status_code == 200
        return {token.name for token in response.context["cl"].result_list}

    assert names("") == {"laptop", "ci-runner", "gone"}
    assert names("?status=active") == {"laptop", "ci-runner"}
    assert names("?status=revoked") == {"gone"}
    assert names("?q=bob") == {"ci-runner", "gone"}
    assert names(f"?q={laptop.prefix}") == {"laptop"}

    response = staff.post(
        "/admin/django_mcp/apitoken/",
        {"action": "revoke", "_selected_action": [str(laptop.pk), str(gone.pk)]},
        follow=True,
    )
    assert "1 token(s) revoked." in response.content.decode()
    laptop.refresh_from_db()
    ci.refresh_from_db()
    assert laptop.revoked_at is not None and ci.revoked_at is None


def test_admin_change_page_keeps_owner_and_revocation_read_only(staff: Client, ada: Any) -> None:
    token, _ = ApiToken.create(ada, name="laptop")
    token.revoke()
    form = staff.get(f"/admin/django_mcp/apitoken/{token.pk}/change/").context["adminform"]
    assert {"user", "revoked_at", "prefix"} <= set(form.readonly_fields)
    assert "user" not in form.form.fields
