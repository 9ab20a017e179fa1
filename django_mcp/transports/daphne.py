"""Adjustments to daphne's HTTP classes and the server process, applied at start-up.

**Form parsing.**
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

**Twisted's access log.** Twisted formats a combined-log line for every request
and writes it to its own log. At daphne's default verbosity (1 or less) daphne
sends that log nowhere, so the line is built for nothing: about 5% of the event
loop's time on the POST path. :func:`skip_discarded_access_log` skips it then;
at ``-v 2`` and above, where daphne forwards Twisted's log to the standard
``logging`` module, the line is still written. daphne's own access log
(``--access-log``) is a different one and is not affected.

**The garbage collector.** A full (generation 2) collection walks every object
the process holds, and a Django process holds a few hundred thousand from
start-up alone: modules, models, URL patterns, pydantic schemas. Under load
such a pass ran every second or two and stopped the event loop for 80 to 90 ms
each time, which set the 99th percentile of tool calls.
:func:`freeze_startup_objects` calls :func:`gc.freeze` once daphne's reactor
runs, so those objects are left out of every later pass. Objects created while
serving are collected as before. Turn it off with
``DJANGO_MCP["DAPHNE_FREEZE_GC"] = False``.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

_PATCHED = "_django_mcp_skips_form_parsing"
_LOG_PATCHED = "_django_mcp_skips_discarded_access_log"


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


def skip_discarded_access_log() -> bool:
    """Skip Twisted's per-request access-log line when daphne discards it.

    Only in a process that runs daphne's server, as :func:`skip_twisted_form_parsing`.
    Returns whether daphne's HTTP factory is patched.
    """
    if "daphne.server" not in sys.modules:
        return False
    from daphne.http_protocol import HTTPFactory

    if getattr(HTTPFactory, _LOG_PATCHED, False):
        return True
    original = HTTPFactory.log

    def log(self: Any, request: Any) -> None:
        # daphne.server.Server.run sends Twisted's log nowhere at verbosity <= 1.
        if getattr(getattr(self, "server", None), "verbosity", 2) > 1:
            original(self, request)

    HTTPFactory.log = log
    setattr(HTTPFactory, _LOG_PATCHED, True)
    return True


def freeze_startup_objects() -> bool:
    """Call :func:`gc.freeze` when daphne's reactor starts (after the
    application is loaded). Returns whether it was scheduled."""
    if "daphne.server" not in sys.modules:
        return False
    from twisted.internet import reactor

    reactor.callWhenRunning(gc.freeze)
    return True
