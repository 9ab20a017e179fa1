"""Requests the server sends to the client, and the answers that come back.

Sampling, elicitation and roots are requests in the other direction: the server
writes a JSON-RPC request on the stream and the client answers with a POST,
which the transport feeds to the session like any other message. Each request
waits on a future keyed by its server-issued id until that answer arrives, the
timeout passes, or the session closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from django_mcp.exceptions import ClientDisconnected, ClientRequestError, ClientRequestTimeout
from django_mcp.protocol import jsonrpc

if TYPE_CHECKING:
    from django_mcp.protocol.session import ServerSession

logger = logging.getLogger("django_mcp")


class ClientRequests:
    """The pending server-to-client requests of one session."""

    def __init__(self, session: ServerSession) -> None:
        self._session = session
        self._ids = itertools.count(1)
        self._pending: dict[jsonrpc.RequestId, asyncio.Future[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        timeout: float,  # noqa: ASYNC109 (the client is told on expiry)
        related: jsonrpc.RequestId | None = None,
    ) -> dict[str, Any]:
        """Send ``method`` to the client and return its result.

        ``related`` is the id of the client request being handled when it is
        asked (see :meth:`ServerSession.send`).

        Raises :class:`ClientRequestError` when the client answers with an
        error, :class:`ClientRequestTimeout` after ``timeout`` seconds (the
        client is then told the request is cancelled) and
        :class:`ClientDisconnected` when the session closes first.
        """
        session = self._session
        if session.closed:
            raise ClientDisconnected(f"The session closed before {method} could be sent.")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await session.send(message, related=related)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            await self._cancel(request_id, f"No answer within {timeout:g} seconds", related)
            raise ClientRequestTimeout(
                f"The client did not answer {method} within {timeout:g} seconds.", code=None
            ) from None
        except asyncio.CancelledError:
            # The tool that asked was cancelled: tell the client to stop too.
            if not session.closed:
                session.send_soon(
                    jsonrpc.notification(
                        "notifications/cancelled",
                        {"requestId": request_id, "reason": "The server request was cancelled"},
                    ),
                    related=related,
                )
            raise
        finally:
            self._pending.pop(request_id, None)

    async def _cancel(
        self, request_id: jsonrpc.RequestId, reason: str, related: jsonrpc.RequestId | None
    ) -> None:
        await self._session.send(
            jsonrpc.notification(
                "notifications/cancelled", {"requestId": request_id, "reason": reason}
            ),
            related=related,
        )

    def resolve(self, response: jsonrpc.Response) -> bool:
        """Settle the request ``response`` answers; False if none is waiting."""
        future = self._pending.pop(response.id, None)
        if future is None or future.done():
            return False
        if response.error is not None:
            error = response.error
            code = error.get("code")
            future.set_exception(
                ClientRequestError(
                    str(error.get("message") or "The client answered with an error."),
                    code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                    data=error.get("data"),
                )
            )
        else:
            future.set_result(response.result or {})
        return True

    def close(self) -> None:
        """Fail every pending request: the session is gone."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    ClientDisconnected("The client disconnected before answering.")
                )
        self._pending.clear()
