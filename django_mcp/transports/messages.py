"""``POST <prefix>/messages/?session_id=<id>``: the client-to-server half of HTTP+SSE.

A DRF view, so the site's DRF authentication classes decide who the caller is.
It checks the caller owns the session, hands the body to the session's actor
(through the hub, on whichever worker holds it) and answers ``202 Accepted``
at once; the JSON-RPC response travels on the stream. It never waits for a tool.

Most POSTs never reach this view: :mod:`django_mcp.transports.fastpath` accepts
those whose credentials match the ones the stream was opened with, and hands
everything else (cookie sessions, other credentials, errors) to this view.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponseBase, QueryDict
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from django_mcp import auth
from django_mcp.conf import mcp_settings
from django_mcp.protocol import jsonrpc
from django_mcp.security import limits, screening
from django_mcp.transports.hub import fingerprint, hub


def error_body(message: str, code: int | None = None) -> dict[str, Any]:
    """A JSON error body; with a JSON-RPC code it is a JSON-RPC error response."""
    if code is None:
        return {"error": message}
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


class UnreadBody(BaseParser):
    """Accepts any media type and reads nothing: the view decodes the body itself.

    An authentication class that looks at ``request.POST`` for form-encoded
    credentials (django-oauth-toolkit's does) then sees an empty form, instead of
    DRF answering 415 for want of a parser.
    """

    media_type = "*/*"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return QueryDict()


class MessagesView(APIView):
    """Accepts JSON-RPC messages for an open SSE session."""

    permission_classes = [IsAuthenticated]
    # The body is decoded here, with the depth limit and exact error codes,
    # rather than by DRF's parsers.
    parser_classes = [UnreadBody]

    def get_authenticators(self) -> list[Any]:
        return auth.get_authenticators()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Host and Origin before authentication; credentials never from the query.
        rejection = screening.screen_request(request)
        if rejection is not None:
            return rejection.response()
        return super().dispatch(request, *args, **kwargs)

    def get_authenticate_header(self, request: Request) -> str:
        # DRF asks only the first class, and SessionAuthentication (first by
        # default) has no challenge, which would turn every 401 into a 403.
        return auth.challenge(request)

    def post(self, request: Request) -> Response:
        session_id = request.query_params.get("session_id")
        if not session_id:
            return Response(
                error_body("Missing session_id query parameter."),
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = limits.read_body(request)
        if body is None:
            return Response(
                error_body(f"Request body exceeds {mcp_settings.MAX_BODY_SIZE} bytes."),
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            payload = jsonrpc.loads(body, mcp_settings.MAX_JSON_DEPTH)
        except jsonrpc.ParseError as error:
            return Response(
                error_body(error.message, error.code), status=status.HTTP_400_BAD_REQUEST
            )
        rejection = limits.throttle(limits.rate_key(request, request.user), limits.cost(payload))
        if rejection is not None:
            return Response(rejection.body, status=rejection.status, headers=rejection.headers)
        credentials = request.META.get("HTTP_AUTHORIZATION")
        outcome = async_to_sync(hub.deliver)(
            session_id,
            payload,
            body,
            user_id=request.user.pk,
            credentials=fingerprint(credentials) if credentials else None,
        )
        if outcome != "accepted":
            return self.not_found()
        return Response(status=status.HTTP_202_ACCEPTED)

    def not_found(self) -> Response:
        return Response(
            error_body("Unknown or closed session: open a new stream."),
            status=status.HTTP_404_NOT_FOUND,
        )
