"""Settings of the example library site.

The embedded default needs no external service: SQLite and the in-memory
channel layer, one daphne process. Production-like settings are chosen by
environment variables:

- ``EXAMPLE_DB=postgres`` (``EXAMPLE_PG_NAME``, ``EXAMPLE_PG_HOST``, ``EXAMPLE_PG_USER``)
- ``EXAMPLE_CHANNEL_LAYER=redis`` (``EXAMPLE_REDIS_URL``; Django's cache moves to
  Redis too, ``EXAMPLE_CACHE_URL``), or ``redis-core`` for the list-based layer
  (``EXAMPLE_GROUP_EXPIRY``)
- ``DJANGO_MCP_ROUTE_TIMEOUT`` seconds to wait for another worker's acknowledgement
- ``DJANGO_MCP_HEARTBEAT_INTERVAL`` seconds between stream heartbeats
- ``DJANGO_MCP_RATE_LIMIT``, ``DJANGO_MCP_MAX_SESSIONS_PER_USER``: limits (a number, or ``none``)
- ``DJANGO_MCP_SESSION_SYNC_INTERVAL``, ``DJANGO_MCP_SESSION_STALE_AFTER``,
  ``DJANGO_MCP_SESSION_IDLE_TIMEOUT``: session bookkeeping, in seconds
- ``DJANGO_MCP_SETTINGS_JSON``: any other ``DJANGO_MCP`` keys, as a JSON object
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_mcp",
    "library",
]
if os.environ.get("EXAMPLE_CONFORMANCE") == "1":
    # The fixtures of the MCP conformance suite (docs/conformance.md); off by default.
    INSTALLED_APPS.append("django_mcp.contrib.conformance")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("EXAMPLE_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("EXAMPLE_PG_NAME", "test"),
            "HOST": os.environ.get("EXAMPLE_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("EXAMPLE_PG_PORT", "5432"),
            "USER": os.environ.get("EXAMPLE_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("EXAMPLE_PG_PASSWORD", ""),
            # Streams live for hours: never keep a connection past a request.
            "CONN_MAX_AGE": 0,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("EXAMPLE_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL lets readers run beside the one writer, and synchronous=NORMAL
            # syncs the log at checkpoints rather than at every commit: a
            # session's open, initialize and close are each one short commit.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file on this machine: keeping the connection costs nothing, and
            # reopening it (with the PRAGMAs) on every database hop does.
            "CONN_MAX_AGE": None,
        }
    }

REDIS_URL = os.environ.get("EXAMPLE_REDIS_URL", "redis://127.0.0.1:6379/0")
# redis-py's default socket timeout (5 s) equals the list layer's blocking read,
# so idle listeners would time out and reconnect every few seconds.
REDIS_HOST = {"address": REDIS_URL, "socket_timeout": 30}
CHANNEL_LAYER_KIND = os.environ.get("EXAMPLE_CHANNEL_LAYER", "memory")
if CHANNEL_LAYER_KIND == "redis":
    # Pub/sub: nothing is queued in Redis, nothing expires, nothing is lost
    # under load (see docs/performance.md for the comparison with the list layer).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_HOST],
                "prefix": os.environ.get("EXAMPLE_CHANNEL_PREFIX", "asgi"),
            },
        }
    }
elif CHANNEL_LAYER_KIND == "redis-core":
    # The list-based layer, kept to show that streams outlive its group expiry.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_HOST],
                "prefix": os.environ.get("EXAMPLE_CHANNEL_PREFIX", "asgi"),
                "group_expiry": int(os.environ.get("EXAMPLE_GROUP_EXPIRY", "86400")),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

if CHANNEL_LAYER_KIND.startswith("redis"):
    # Rate limits and other shared counters must be shared by all workers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("EXAMPLE_CACHE_URL", "redis://127.0.0.1:6379/1"),
        }
    }

DJANGO_MCP = {
    "SERVER_NAME": "example-library",
    "INSTRUCTIONS": "Tools of a small lending library: search books, look one up, lend it.",
    "HEARTBEAT_INTERVAL": float(os.environ.get("DJANGO_MCP_HEARTBEAT_INTERVAL", "15")),
    "ROUTE_TIMEOUT": float(os.environ.get("DJANGO_MCP_ROUTE_TIMEOUT", "5")),
}
# Limits from the environment, e.g. for the benchmark (bench/): a number, or "none" for no limit.
for _key in ("RATE_LIMIT", "MAX_SESSIONS_PER_USER"):
    if _value := os.environ.get(f"DJANGO_MCP_{_key}"):
        DJANGO_MCP[_key] = None if _value.lower() == "none" else int(_value)
# Session bookkeeping in seconds, e.g. shortened by the end-to-end tests.
for _key in ("SESSION_SYNC_INTERVAL", "SESSION_STALE_AFTER", "SESSION_IDLE_TIMEOUT"):
    if _value := os.environ.get(f"DJANGO_MCP_{_key}"):
        DJANGO_MCP[_key] = float(_value)
# Any other DJANGO_MCP keys as a JSON object, e.g. the security end-to-end tests'
# ALLOWED_ORIGINS, AUTHORIZATION_SERVERS, MAX_BODY_SIZE or AUTHENTICATION_CLASSES.
DJANGO_MCP.update(json.loads(os.environ.get("DJANGO_MCP_SETTINGS_JSON") or "{}"))

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_mcp": {"handlers": ["console"], "level": "INFO"}},
}
