"""Each system check fires on its misconfiguration and stays quiet otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_mcp import checks


def mcp_messages() -> list[Any]:
    return [m for m in run_checks() if str(m.id).startswith("django_mcp.")]


def ids() -> list[str]:
    return sorted(str(m.id) for m in mcp_messages())


def test_default_configuration_is_clean() -> None:
    assert ids() == []


# E001 -------------------------------------------------------------------------------------


@override_settings(DJANGO_MCP={"AUTHENTICATION_CLASSES": []})
def test_e001_empty_authentication_classes() -> None:
    [message] = checks.check_authentication()
    assert isinstance(message, Error)
    assert message.id == "django_mcp.E001"
    assert message.hint
    assert "django_mcp.E001" in ids()


@override_settings(DJANGO_MCP={"AUTHENTICATION_CLASSES": ["django_mcp.auth.TokenAuthentication"]})
def test_e001_quiet_with_one_class() -> None:
    assert checks.check_authentication() == []


@override_settings(DJANGO_MCP={"AUTHENTICATION_CLASSES": []})
def test_e001_fails_manage_check() -> None:
    with pytest.raises(SystemCheckError, match=r"django_mcp\.E001"):
        call_command("check")


# E004 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["HEARTBEAT_INTERVAL", "ROUTE_TIMEOUT"])
@pytest.mark.parametrize("value", [0, -1])
def test_e004_timers_must_be_positive(name: str, value: float) -> None:
    with override_settings(DJANGO_MCP={name: value}):
        [message] = checks.check_timers()
        assert isinstance(message, Error)
        assert message.id == "django_mcp.E004"
        assert name in message.msg
        assert "django_mcp.E004" in ids()


def test_e004_quiet_with_the_defaults() -> None:
    assert checks.check_timers() == []


# E002 / W001 ------------------------------------------------------------------------------


@override_settings(ROOT_URLCONF="tests.urlconfs.without_mcp")
def test_e002_urls_not_included() -> None:
    [message] = checks.check_urls()
    assert isinstance(message, Error)
    assert message.id == "django_mcp.E002"
    assert 'path("mcp/", include("django_mcp.urls"))' in (message.hint or "")
    assert "django_mcp.E002" in ids()


@override_settings(ROOT_URLCONF="tests.urlconfs.without_mcp", DJANGO_MCP={"URL_PREFIX": "/ai/"})
def test_e002_hint_uses_the_configured_prefix() -> None:
    [message] = checks.check_urls()
    assert 'path("ai/", include("django_mcp.urls"))' in (message.hint or "")


@override_settings(ROOT_URLCONF="tests.urlconfs.other_prefix")
def test_w001_prefix_mismatch() -> None:
    [message] = checks.check_urls()
    assert isinstance(message, Warning)
    assert message.id == "django_mcp.W001"
    assert "/api/mcp/messages/" in message.msg
    assert "/mcp/messages/" in message.msg


@override_settings(ROOT_URLCONF="tests.urlconfs.other_prefix", DJANGO_MCP={"URL_PREFIX": "api/mcp"})
def test_w001_quiet_when_prefix_matches() -> None:
    assert checks.check_urls() == []


def test_urls_quiet_by_default() -> None:
    assert checks.check_urls() == []


# W002 ---------------------------------------------------------------------------------------


@override_settings(CHANNEL_LAYERS={})
def test_w002_no_channel_layer() -> None:
    [message] = checks.check_channel_layer()
    assert isinstance(message, Warning)
    assert message.id == "django_mcp.W002"
    assert "'default'" in message.msg
    assert "django_mcp.W002" in ids()


@override_settings(DJANGO_MCP={"CHANNEL_LAYER": "mcp"})
def test_w002_named_layer_missing() -> None:
    [message] = checks.check_channel_layer()
    assert message.id == "django_mcp.W002"
    assert "'mcp'" in message.msg


@override_settings(
    DJANGO_MCP={"CHANNEL_LAYER": "mcp"},
    CHANNEL_LAYERS={"mcp": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
)
def test_w002_quiet_with_the_named_layer() -> None:
    assert checks.check_channel_layer() == []
