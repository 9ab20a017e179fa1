"""System checks of the MCP configuration (``django_mcp.E001`` ...)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

from django_mcp.conf import mcp_settings


@register(Tags.security)
def check_authentication(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if not mcp_settings.AUTHENTICATION_CLASSES:
        return [
            Error(
                "DJANGO_MCP['AUTHENTICATION_CLASSES'] is empty, so nobody can authenticate.",
                hint="Keep the defaults, or list at least one DRF authentication class.",
                id="django_mcp.E001",
            )
        ]
    return []


@register()
def check_timers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors = []
    for name in ("HEARTBEAT_INTERVAL", "ROUTE_TIMEOUT"):
        try:
            value = float(mcp_settings._get(name))  # the raw value, before any clamping
        except (TypeError, ValueError):
            value = 0.0
        if not value > 0:
            errors.append(
                Error(
                    f"DJANGO_MCP[{name!r}] must be a positive number of seconds.",
                    hint="Remove it to keep the default, or give a value above 0.",
                    obj=name,
                    id="django_mcp.E004",
                )
            )
    return errors


@register(Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    try:
        url = reverse("django_mcp:messages")
    except NoReverseMatch:
        return [
            Error(
                "The MCP URLs are not included in the URLconf.",
                hint=f'Add path("{mcp_settings.URL_PREFIX}/", include("django_mcp.urls")) '
                "to your ROOT_URLCONF.",
                id="django_mcp.E002",
            )
        ]
    expected = f"/{mcp_settings.URL_PREFIX}/messages/"
    if url != expected:
        return [
            Warning(
                f"The MCP messages URL is {url} but DJANGO_MCP['URL_PREFIX'] suggests {expected}.",
                hint="Include django_mcp.urls under the same prefix as URL_PREFIX.",
                id="django_mcp.W001",
            )
        ]
    return []


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    if mcp_settings.CHANNEL_LAYER not in layers:
        return [
            Warning(
                f"No channel layer named {mcp_settings.CHANNEL_LAYER!r} is configured.",
                hint="One process works without one, but admin terminate cannot reach "
                "streams and several workers cannot share sessions. Configure "
                "CHANNEL_LAYERS (channels_redis for several workers).",
                id="django_mcp.W002",
            )
        ]
    return []


# Deployment checks (django_mcp.E003, W003 to W006) ------------------------------------

#: Attributes under which ASGI routers and middleware keep what they wrap.
_ASGI_CHILDREN = ("application_mapping", "routes", "url_patterns", "inner", "app", "application")


def _routes_to(application: Any, consumer: type, depth: int = 0) -> bool:
    """Whether ``application`` (a router, middleware or consumer app) reaches ``consumer``."""
    if depth > 20 or application is None:
        return False
    consumer_class = getattr(application, "consumer_class", None)
    if isinstance(consumer_class, type) and issubclass(consumer_class, consumer):
        return True
    callback = getattr(application, "callback", None)
    if callback is not None and callback is not application:
        return _routes_to(callback, consumer, depth + 1)
    for name in _ASGI_CHILDREN:
        child = getattr(application, name, None)
        if child is None or child is application:
            continue
        children = child.values() if isinstance(child, dict) else child
        if isinstance(children, list | tuple) or isinstance(child, dict):
            if any(_routes_to(item, consumer, depth + 1) for item in children):
                return True
        elif _routes_to(child, consumer, depth + 1):
            return True
    return False


@register(Tags.urls)
def check_asgi_routing(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        # Nothing to inspect: the server is given the application on its command line.
        return []
    from django.utils.module_loading import import_string

    from django_mcp.transports.sse import SseConsumer

    try:
        application = import_string(path)
    except Exception as exc:
        return [
            Error(
                f"ASGI_APPLICATION {path!r} cannot be imported: {exc}",
                hint="Point ASGI_APPLICATION at the application daphne serves.",
                id="django_mcp.E003",
            )
        ]
    if not _routes_to(application, SseConsumer):
        return [
            Warning(
                f"The ASGI application {path} does not route to the MCP stream consumer, "
                "so GET <prefix>/sse is answered by Django (404) instead of opening a stream.",
                hint='Wrap it: ProtocolTypeRouter({"http": URLRouter([*django_mcp.routing.'
                'urlpatterns, re_path(r"", django_asgi_app)])}). Silence this warning if '
                "your application routes in a way this check cannot see.",
                id="django_mcp.W003",
            )
        ]
    return []


def _runserver_provider() -> str | None:
    """The app whose ``runserver`` wins, as Django's command lookup decides."""
    from django.apps import apps
    from django.core.management import find_commands

    for app_config in apps.get_app_configs():
        if "runserver" in find_commands(os.path.join(app_config.path, "management")):
            return app_config.name
    return None


@register()
def check_daphne_first(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if "daphne" not in settings.INSTALLED_APPS:
        return []
    provider = _runserver_provider()
    if provider != "daphne":
        return [
            Warning(
                f"'daphne' is in INSTALLED_APPS but {provider!r} provides runserver, so "
                "runserver serves WSGI and MCP streams do not work under it.",
                hint="Put 'daphne' first in INSTALLED_APPS.",
                id="django_mcp.W004",
            )
        ]
    return []


def _expected_workers() -> int:
    if mcp_settings.WORKERS is not None:
        return mcp_settings.WORKERS
    concurrency = os.environ.get("WEB_CONCURRENCY", "")
    return int(concurrency) if concurrency.isdigit() else 1


@register()
def check_in_memory_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    backend = str(layers.get(mcp_settings.CHANNEL_LAYER, {}).get("BACKEND", ""))
    workers = _expected_workers()
    if backend.endswith("InMemoryChannelLayer") and workers > 1:
        return [
            Warning(
                f"The channel layer {mcp_settings.CHANNEL_LAYER!r} is in-memory, but "
                f"{workers} workers are expected (DJANGO_MCP['WORKERS'] or WEB_CONCURRENCY): "
                "a POST that lands on another worker than its stream cannot reach it, and "
                "admin terminate only reaches this process.",
                hint="Use channels_redis (RedisPubSubChannelLayer) with several workers.",
                id="django_mcp.W005",
            )
        ]
    return []


@register()
def check_session_timing(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    interval = mcp_settings.SESSION_SYNC_INTERVAL
    stale_after = mcp_settings.SESSION_STALE_AFTER
    if stale_after < 2 * interval:
        return [
            Warning(
                f"SESSION_STALE_AFTER ({stale_after:g}s) is less than twice "
                f"SESSION_SYNC_INTERVAL ({interval:g}s): mcp_clearsessions would close "
                "live sessions whose worker is only between two heartbeats.",
                hint="Keep SESSION_STALE_AFTER at three or more sync intervals.",
                id="django_mcp.W006",
            )
        ]
    return []
