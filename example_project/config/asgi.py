"""ASGI entry point: the MCP stream routes first, then Django for everything else."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from django_mcp.routing import get_urlpatterns  # noqa: E402

site_app = django_asgi_app
if os.environ.get("EXAMPLE_SERVE_STATIC", "1") == "1":
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    # The demo serves the admin's CSS and JavaScript itself, so the admin looks
    # right under plain daphne; a real site runs collectstatic and lets its web
    # server (or WhiteNoise) serve them.
    site_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter(
    {"http": URLRouter([*get_urlpatterns(django_asgi_app), re_path(r"", site_app)])}
)
