"""What the protocol core tells the outside world about each ``tools/call``.

The core knows nothing of the database: it builds a :class:`CallRecord` for
every call and hands it to the :class:`CallRecorder` set on its handlers. The
default recorder (``DJANGO_MCP["CALL_RECORDER"]``) writes the tool-call log and
sends the ``tool_called`` signal, off the stream's path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

Outcome = Literal["ok", "tool-error", "protocol-error", "cancelled"]

#: What a redacted argument is replaced with in the log.
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished ``tools/call``.

    ``arguments`` are already redacted as the tool asked: ``None`` when the
    tool logs no arguments at all.
    """

    session_id: str | None
    user: Any
    tool: str
    arguments: dict[str, Any] | None
    started_at: datetime
    duration_ms: float
    outcome: Outcome
    error: str


class CallRecorder(Protocol):
    """Told about every ``tools/call``, on the event loop, after it finished.

    ``record`` must return at once: it runs on the stream's event loop.
    """

    def record(self, session: ServerSession, call: CallRecord) -> None: ...


def redact(arguments: Any, log_arguments: bool, redacted: Iterable[str]) -> dict[str, Any] | None:
    """``arguments`` as they may be logged for a tool with these options."""
    if not log_arguments:
        return None
    if not isinstance(arguments, Mapping):
        return None
    hidden = set(redacted)
    return {str(key): (REDACTED if key in hidden else value) for key, value in arguments.items()}


@cache
def _import(path: str) -> CallRecorder:
    from django.utils.module_loading import import_string

    recorder: CallRecorder = import_string(path)
    return recorder


def default_recorder() -> CallRecorder | None:
    """The recorder named by ``DJANGO_MCP["CALL_RECORDER"]``, if any."""
    from django_mcp.conf import mcp_settings

    path = mcp_settings.CALL_RECORDER
    return _import(path) if path else None
