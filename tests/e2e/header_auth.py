"""A custom DRF authentication class for the end-to-end tests, loaded by the example
project through ``DJANGO_MCP["AUTHENTICATION_CLASSES"]``: it proves that any DRF class
authenticates both the stream and the POST.

``X-Test-User: <username>`` with ``X-Test-Secret: <the server's secret>`` (the
environment variable ``E2E_HEADER_SECRET``). Test-only: never use a scheme like this.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request


class HeaderAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        username = request.META.get("HTTP_X_TEST_USER")
        if not username:
            return None
        expected = os.environ.get("E2E_HEADER_SECRET", "")
        given = request.META.get("HTTP_X_TEST_SECRET", "")
        if not expected or not secrets.compare_digest(given, expected):
            raise exceptions.AuthenticationFailed("Bad X-Test-Secret.")
        user = get_user_model()._default_manager.filter(username=username, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed("No such user.")
        return user, None
