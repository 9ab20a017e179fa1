"""Twisted's form parsing is skipped for daphne's requests."""

from __future__ import annotations

import daphne.server  # noqa: F401  (installs the asyncio reactor, as the daphne command does)
from daphne.http_protocol import WebRequest
from twisted.web.test.requesthelper import DummyChannel

from django_mcp.transports.daphne import skip_twisted_form_parsing


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
