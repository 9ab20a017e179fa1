"""One adjustment to daphne's HTTP request class, applied at start-up.

Twisted, under daphne, parses the body of every POST that declares a form
content type, and for every POST it first parses the ``Content-Type`` header
through the standard library's e-mail machinery. Daphne never reads the result:
it hands the raw body to the ASGI application, and Django parses forms itself.
Profiles of the MCP POST path showed that parse taking about a tenth of the
event loop's time, and a malformed ``multipart/form-data`` body made Twisted
answer a bare ``400`` before Django saw it.

Twisted's ``Request`` takes ``parsePOSTFormSubmission=False`` for this; daphne
does not pass it, so :func:`skip_twisted_form_parsing` sets it on daphne's
request class. Turn it off with ``DJANGO_MCP["DAPHNE_SKIP_FORM_PARSING"] = False``.
"""

from __future__ import annotations

import sys
from typing import Any

_PATCHED = "_django_mcp_skips_form_parsing"


def skip_twisted_form_parsing() -> bool:
    """Make daphne's requests skip Twisted's form parsing.

    Only in a process that runs daphne's server (``daphne`` on the command line
    imports it before the application): importing Twisted's web modules
    elsewhere, in a ``migrate`` say, could install a reactor daphne would then
    have to replace. Returns whether daphne's requests now skip the parse.
    """
    if "daphne.server" not in sys.modules:
        return False
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, _PATCHED, False):
        return True
    original = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    setattr(WebRequest, _PATCHED, True)
    return True
