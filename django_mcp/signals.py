"""Signals for a site's own metrics and alerts. See ``docs/reference/signals.md``.

``session_opened``
    ``sender=McpSession``, ``session`` (the new :class:`~django_mcp.models.McpSession`
    row), ``scope`` (the ASGI scope of the stream request). Sent once the row is
    saved, in a worker thread: receivers may use the ORM.

``session_closed``
    ``sender=McpSession``, ``session`` (the row, as closed), ``reason`` (one of
    :class:`McpSession.CloseReason <django_mcp.models.McpSession.CloseReason>`).
    Sent exactly once per session, by whoever marks the row closed: the worker
    when the client disconnects, the stream idles out or the server shuts down;
    the admin or the ``mcp_sessions --terminate`` command; ``mcp_clearsessions``
    for a session whose worker died (``"worker-lost"``). Sent in a thread that
    may use the ORM.

``tool_called``
    ``sender=ToolCall``, ``session_id``, ``user``, ``tool`` (the name asked for),
    ``arguments`` (redacted as the tool asked; ``None`` when it logs none),
    ``outcome`` (``"ok"``, ``"tool-error"``, ``"protocol-error"`` or
    ``"cancelled"``), ``error`` (the message, or ``""``), ``duration_ms`` and
    ``started_at``. Sent with ``asend`` after the response was written, off the
    stream's path, whether or not the call log is enabled: async receivers run on
    the event loop, sync ones in a thread where they may use the ORM.
"""

from __future__ import annotations

from django.dispatch import Signal

session_opened = Signal()
session_closed = Signal()
tool_called = Signal()
