"""Twisted's form parsing, and its discarded access log, are skipped under daphne."""

from __future__ import annotations

import daphne.server  # noqa: F401  (installs the asyncio reactor, as the daphne command does)
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.web.test.requesthelper import DummyChannel

from django_mcp.transports.daphne import skip_discarded_access_log, skip_twisted_form_parsing


def test_daphne_requests_skip_twisted_form_parsing() -> None:
    # The app config applies it at start-up under daphne; here daphne.server
    # was imported above, as the daphne command imports it first.
    assert skip_twisted_form_parsing() is True
    assert skip_twisted_form_parsing() is True  # idempotent
    channel = DummyChannel()
    connected: list[object] = []
    server = type("Server", (), {"protocol_connected": lambda self, r: connected.append(r)})()
    channel.factory = type("Factory", (), {"server": server})()
    request = WebRequest(channel)
    assert connected == [request]
    assert request._parsePOSTFormSubmission is False


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def close(self) -> None: ...


def test_twisted_access_log_is_skipped_only_where_daphne_discards_it() -> None:
    assert skip_discarded_access_log() is True
    assert skip_discarded_access_log() is True  # idempotent
    written = {}
    for verbosity in (0, 1, 2, 3):
        server = type("Server", (), {"verbosity": verbosity})()
        factory = HTTPFactory(server)
        factory._logFile = log = _Log()
        factory._logDateTime = "[25/Nov/2026:00:00:00 +0000]"
        channel = DummyChannel()
        channel.factory = type("Factory", (), {"server": server})()
        server.protocol_connected = lambda request: None
        request = WebRequest(channel)
        request.method, request.uri, request.clientproto = b"POST", b"/mcp/messages/", b"HTTP/1.1"
        factory.log(request)
        written[verbosity] = len(log.lines)
    assert written == {0: 0, 1: 0, 2: 1, 3: 1}
