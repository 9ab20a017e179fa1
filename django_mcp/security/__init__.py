"""The security policies of the MCP endpoints, as small checks the transports call.

- :mod:`~django_mcp.security.screening`: Host and Origin (DNS rebinding), and no
  credentials from the query string;
- :mod:`~django_mcp.security.limits`: body size, open sessions per user, messages
  per minute;
- :mod:`~django_mcp.security.scopes`: the tools a scoped token may use;
- :mod:`~django_mcp.security.oauth`: OAuth 2.1 resource-server discovery (RFC 9728);
- :mod:`~django_mcp.security.errors`: what a failing tool may tell the client.

Each check returns ``None`` or a :class:`Rejection`, which every transport
answers as JSON with the rejection's status and headers. See docs/security.md.
"""

from __future__ import annotations

from django_mcp.security.rejection import Rejection
from django_mcp.security.scopes import READ_ONLY, ToolScopes

__all__ = ["READ_ONLY", "Rejection", "ToolScopes"]
