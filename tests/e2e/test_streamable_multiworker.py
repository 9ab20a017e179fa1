"""Streamable HTTP on two daphne workers (PostgreSQL, Redis) behind nginx, no stickiness.

A session lives with the worker that initialized it; its POSTs, its GET stream
and its DELETE may reach the other one, which relays them over the channel
layer and answers on its own HTTP response. Stateless (2026-07-28) requests are
answered by whichever worker receives them.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from tests.e2e.cluster import (  # noqa: F401 (the cluster and pg_database fixtures)
    cluster_fixture,
    pg_database_fixture,
)
from tests.e2e.shttp import MODERN, GetStream, StreamableClient, modern_meta, request

pytestmark = pytest.mark.multiworker


def echo(request_id: Any, message: str) -> dict[str, Any]:
    return request(request_id, "tools/call", {"name": "echo", "arguments": {"message": message}})


async def test_posts_on_either_worker_are_answered_exactly_once(cluster: Any) -> None:
    first, second, balancer = cluster
    async with StreamableClient(first.base_url, first.token) as owner:
        await owner.initialize()
        assert owner.session_id is not None
        async with (
            StreamableClient(balancer.base_url, first.token, session_id=owner.session_id) as via,
            GetStream(via) as listening,
        ):
            via.protocol_version = owner.protocol_version
            assert listening.status == 200
            ids = [f"call-{n}" for n in range(20)]
            answers = await asyncio.gather(*(via.post(echo(i, i)) for i in ids))
            for request_id, answer in zip(ids, answers, strict=True):
                assert answer.status == 200, answer.text
                assert len(answer.messages) == 1
                assert answer.reply["id"] == request_id
                assert answer.reply["result"]["structuredContent"]["echo"] == request_id
            await asyncio.sleep(0.5)  # anything misrouted would have reached the GET stream by now
            assert not [event for event in listening.events if '"id"' in event.data]
    served_by = set(balancer.upstreams_of("POST", "/mcp"))
    assert served_by == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}


async def test_a_relayed_request_streams_its_progress(cluster: Any) -> None:
    first, second, _balancer = cluster
    admin = first.create_token("admin")
    async with StreamableClient(first.base_url, admin) as owner:
        await owner.initialize()
        async with StreamableClient(second.base_url, admin, session_id=owner.session_id) as other:
            other.protocol_version = owner.protocol_version
            answer = await other.post(
                request(
                    1,
                    "tools/call",
                    {
                        "name": "import_catalogue",
                        "arguments": {"count": 3, "batch": "relayed"},
                        "_meta": {"progressToken": "t"},
                    },
                )
            )
            assert answer.status == 200
            assert answer.streamed
            progress = [m for m in answer.messages if m.get("method") == "notifications/progress"]
            assert [m["params"]["progress"] for m in progress] == [1, 2, 3]
            assert answer.reply["result"]["structuredContent"]["imported"] == 3
            assert len([m for m in answer.messages if m.get("id") == 1]) == 1

            # The GET stream, held by the second worker, hears the first one's session.
            subscribed = await other.call(2, "resources/subscribe", {"uri": "library://books/5"})
            assert subscribed["result"] == {}
            async with GetStream(other) as listening:
                lent = await owner.call(
                    3, "tools/call", {"name": "lend_book", "arguments": {"book_id": 5}}
                )
                assert lent["result"]["isError"] is False, lent
                await listening.wait_for(lambda s: len(s.events) >= 1)
                assert listening.events[0].json()["params"] == {"uri": "library://books/5"}

            # DELETE through the second worker ends the session on the first.
            assert (await other.delete()).status == 204
            assert (await owner.post(echo(4, "gone"))).status == 404
            assert (await other.post(echo(5, "gone"))).status == 404


async def test_another_user_gets_404_through_the_relay(cluster: Any) -> None:
    first, second, _balancer = cluster
    admin = first.create_token("admin")
    async with StreamableClient(first.base_url, first.token) as owner:
        await owner.initialize()
        async with StreamableClient(second.base_url, admin, session_id=owner.session_id) as thief:
            stolen = await thief.post(echo(1, "mine now"))
            assert stolen.status == 404
        async with StreamableClient(second.base_url, "mcp_bad", session_id=owner.session_id) as bad:
            assert (await bad.post(echo(2, "x"))).status == 401
        assert (await owner.post(echo(3, "still mine"))).status == 200


async def test_a_killed_owner_is_404_so_the_client_starts_again(cluster: Any) -> None:
    first, second, balancer = cluster
    async with StreamableClient(first.base_url, first.token) as owner:
        await owner.initialize()
        session_id = owner.session_id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    async with StreamableClient(second.base_url, first.token, session_id=session_id) as orphan:
        orphan.protocol_version = "2025-11-25"
        lost = await orphan.post(echo(1, "anyone?"))
        assert lost.status == 404
        assert "initialize" in lost.json()["error"]["message"]
    async with StreamableClient(balancer.base_url, first.token) as again:
        await again.initialize()
        assert (await again.post(echo(2, "back"))).reply["result"]["structuredContent"][
            "echo"
        ] == "back"


async def test_stateless_requests_need_no_relay(cluster: Any) -> None:
    first, second, balancer = cluster
    headers = {"MCP_Protocol_Version": MODERN, "Mcp_Method": "tools/call", "Mcp_Name": "echo"}
    async with StreamableClient(balancer.base_url, first.token) as client:
        for n in range(6):
            body = request(
                n,
                "tools/call",
                {"name": "echo", "arguments": {"message": str(n)}, "_meta": modern_meta()},
            )
            answer = await client.post(body, **headers)
            assert answer.status == 200, answer.text
            assert answer.reply["result"]["structuredContent"]["echo"] == str(n)
            assert "mcp-session-id" not in answer.headers
    served_by = set(balancer.upstreams_of("POST", "/mcp"))
    assert served_by == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}
