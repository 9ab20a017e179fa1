"""The deployment checks: ASGI routing, daphne first, in-memory layer, timing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.checks.registry import registry
from django.test import override_settings

from django_mcp import checks

INSTALLED = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_mcp",
    "tests.testapp",
]


def ids() -> list[str]:
    return sorted(str(m.id) for m in run_checks() if str(m.id).startswith("django_mcp."))


# ASGI routing: E003 / W003 ---------------------------------------------------------------


@pytest.mark.parametrize("app", ["tests.ops_asgi.routed", "tests.ops_asgi.nested"])
def test_routing_that_reaches_the_consumer_is_quiet(app: str) -> None:
    with override_settings(ASGI_APPLICATION=app):
        assert checks.check_asgi_routing() == []


def test_w003_routing_without_the_consumer() -> None:
    with override_settings(ASGI_APPLICATION="tests.ops_asgi.django_only"):
        [warning] = checks.check_asgi_routing()
    assert isinstance(warning, Warning)
    assert warning.id == "django_mcp.W003"
    assert "tests.ops_asgi.django_only" in warning.msg
    assert "django_mcp.routing" in (warning.hint or "")


def test_w003_a_plain_django_handler() -> None:
    with override_settings(ASGI_APPLICATION="tests.ops_asgi.django_app"):
        assert [m.id for m in checks.check_asgi_routing()] == ["django_mcp.W003"]


def test_e003_application_cannot_be_imported() -> None:
    with override_settings(ASGI_APPLICATION="tests.ops_asgi.missing"):
        [error] = checks.check_asgi_routing()
    assert isinstance(error, Error)
    assert error.id == "django_mcp.E003"


def test_no_asgi_application_is_quiet() -> None:
    with override_settings(ASGI_APPLICATION=None):
        assert checks.check_asgi_routing() == []


def test_w003_runs_with_manage_check() -> None:
    with override_settings(ASGI_APPLICATION="tests.ops_asgi.django_only"):
        assert "django_mcp.W003" in ids()


# daphne first: W004 --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def forget_daphnes_own_check() -> Iterator[None]:
    """Installing daphne registers its own check, which returns None when neither daphne
    nor staticfiles is installed (as in the test settings): unregister it afterwards."""
    before = set(registry.registered_checks)
    yield
    registry.registered_checks &= before


def test_w004_daphne_after_staticfiles() -> None:
    with override_settings(INSTALLED_APPS=[*INSTALLED, "daphne"]):
        [warning] = checks.check_daphne_first()
    assert warning.id == "django_mcp.W004"
    assert "django.contrib.staticfiles" in warning.msg


def test_w004_quiet_when_daphne_is_first() -> None:
    with override_settings(INSTALLED_APPS=["daphne", *INSTALLED]):
        assert checks.check_daphne_first() == []


def test_w004_quiet_without_daphne() -> None:
    with override_settings(INSTALLED_APPS=INSTALLED):
        assert checks.check_daphne_first() == []


# In-memory layer with several workers: W005 ------------------------------------------------------

MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}


@pytest.mark.parametrize(
    ("layers", "workers", "concurrency", "expected"),
    [
        (MEMORY, 4, None, ["django_mcp.W005"]),
        (MEMORY, None, "3", ["django_mcp.W005"]),
        (MEMORY, 1, "8", []),
        (MEMORY, None, None, []),
        (MEMORY, None, "1", []),
        (REDIS, 4, "4", []),
    ],
)
def test_w005_in_memory_layer_with_several_workers(
    monkeypatch: pytest.MonkeyPatch,
    layers: dict[str, Any],
    workers: int | None,
    concurrency: str | None,
    expected: list[str],
) -> None:
    if concurrency is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", concurrency)
    with override_settings(CHANNEL_LAYERS=layers, DJANGO_MCP={"WORKERS": workers}):
        assert [m.id for m in checks.check_in_memory_layer()] == expected


# Sync and stale timing: W006 ---------------------------------------------------------------------


def test_w006_stale_threshold_too_close_to_the_sync_interval() -> None:
    with override_settings(DJANGO_MCP={"SESSION_SYNC_INTERVAL": 60, "SESSION_STALE_AFTER": 90}):
        assert [m.id for m in checks.check_session_timing()] == ["django_mcp.W006"]


def test_w006_quiet_with_the_defaults() -> None:
    assert checks.check_session_timing() == []


# The checks of issue 4 that already existed: W002 (no layer) and E001 (open server) ------------


def test_no_channel_layer_and_empty_authentication_still_fire() -> None:
    with override_settings(CHANNEL_LAYERS={}, DJANGO_MCP={"AUTHENTICATION_CLASSES": []}):
        found = ids()
    assert "django_mcp.W002" in found
    assert "django_mcp.E001" in found


def test_the_test_settings_pass_every_check() -> None:
    assert ids() == []
