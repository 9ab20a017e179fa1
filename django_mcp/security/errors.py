"""What a failing tool may tell the client.

A tool's exception becomes ``isError: true`` with the exception's message, and
never with a traceback (only the server log gets that). The message itself is
passed through :func:`redact`, which masks the value of every setting Django
itself treats as sensitive (``SECRET_KEY``, database passwords, anything whose
name contains ``KEY``, ``TOKEN``, ``SECRET``, ``PASS``, ``AUTH``, ``API`` or
``SIGNATURE``), so an exception that happens to quote one does not hand it to
the client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter

MASK = "********"
#: Values shorter than this are too common to mask without garbling messages.
MIN_SECRET_LENGTH = 6
MAX_MESSAGE_LENGTH = 2000
#: Dotted paths and model labels ("auth.User") are configuration, not secrets.
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def redact(message: str) -> str:
    """``message`` with sensitive settings values masked, and cut to a sane length."""
    for secret in sorted(set(sensitive_values()), key=len, reverse=True):
        if secret in message:
            message = message.replace(secret, MASK)
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[:MAX_MESSAGE_LENGTH] + "…"
    return message


def tool_error_message(exc: BaseException) -> str:
    """The text a client sees for an exception raised inside a tool."""
    return redact(str(exc) or type(exc).__name__)


def sensitive_values() -> Iterator[str]:
    """Every string value of a sensitive setting, read now (settings may be overridden)."""
    hidden = SafeExceptionReporterFilter.hidden_settings
    for name in dir(settings):
        if name.isupper():
            yield from _walk(getattr(settings, name, None), hidden.search(name) is not None)


def _walk(value: Any, sensitive: bool, depth: int = 0) -> Iterator[str]:
    if depth > 6:
        return
    if isinstance(value, str):
        if sensitive and len(value) >= MIN_SECRET_LENGTH and not _DOTTED.fullmatch(value):
            yield value
    elif isinstance(value, dict):
        hidden = SafeExceptionReporterFilter.hidden_settings
        for key, item in value.items():
            yield from _walk(item, sensitive or hidden.search(str(key)) is not None, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item, sensitive, depth + 1)
