"""Two daphne workers, Redis and PostgreSQL, behind nginx with no stickiness.

A client's stream lives on one worker while its POSTs land on either; these
tests prove each POST reaches the session's actor exactly once, that a killed
worker costs only its own sessions, and that streams outlive the channel
layer's group expiry.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import (  # noqa: F401 (the cluster and pg_database fixtures)
    NGINX,
    cluster_fixture,
    pg_database_fixture,
)
from tests.e2e.helpers import SseStream, open_stream

pytestmark = pytest.mark.multiworker


def ping(request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "ping"}


def echo_call(request_id: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": request_id}},
    }


async def test_posts_through_the_balancer_reach_the_stream_exactly_once(cluster: Any) -> None:
    first, second, balancer = cluster
    session = await open_stream(balancer.base_url, first.token)
    try:
        await session.initialize()
        ids = [f"call-{n}" for n in range(20)]
        for request_id in ids:
            response = await session.post(echo_call(request_id))
            assert response.status_code == 202, response.text
        for request_id in ids:
            reply = await session.reply(request_id)
            assert reply["result"]["structuredContent"]["echo"] == request_id
        # A burst of concurrent POSTs: forwards and their acknowledgements
        # between the workers travel in batches (Outbox), each still exactly once.
        burst = [f"burst-{n}" for n in range(40)]
        responses = await asyncio.gather(*(session.post(echo_call(rid)) for rid in burst))
        assert [response.status_code for response in responses] == [202] * len(burst)
        for request_id in burst:
            reply = await session.reply(request_id)
            assert reply["result"]["structuredContent"]["echo"] == request_id
        await asyncio.sleep(0.5)  # let any duplicate arrive before counting
        for request_id in ids + burst:
            assert len(session.replies_to(request_id)) == 1, request_id
        # Each call has one row in the tool-call log, on PostgreSQL.
        count = first.manage(
            "shell",
            "-c",
            "from django_mcp.models import ToolCall; "
            f"print(ToolCall.objects.filter(session_id={session.session_id!r}).count())",
        )
        assert count.stdout.split()[-1] == str(len(ids) + len(burst))
    finally:
        await session.close()
    endpoint_path = "/mcp/messages/"
    served_by = set(balancer.upstreams_of("POST", endpoint_path))
    assert served_by == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}


async def test_a_killed_worker_loses_only_its_own_sessions(cluster: Any) -> None:
    first, second, balancer = cluster
    doomed = await open_stream(first.base_url, first.token)
    survivor = await open_stream(second.base_url, first.token)
    try:
        await doomed.initialize()
        await survivor.initialize()
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)

        # The doomed client's stream is gone, and its next POST is a clean 404
        # from the surviving worker, whether it comes straight or via nginx.
        await doomed.wait(lambda: doomed.ended, 10)
        async with httpx.AsyncClient(base_url=second.base_url) as client:
            lost = await client.post(
                doomed.endpoint, json=ping(1), headers={"Authorization": f"Bearer {first.token}"}
            )
        assert lost.status_code == 404, lost.text
        assert "session" in lost.json()["error"].lower()
        async with httpx.AsyncClient(base_url=balancer.base_url) as client:
            for _ in range(2):  # both upstreams are tried in turn; nginx skips the dead one
                via_balancer = await client.post(
                    doomed.endpoint,
                    json=ping(2),
                    headers={"Authorization": f"Bearer {first.token}"},
                )
                assert via_balancer.status_code == 404, via_balancer.text

        # Every other session keeps working, through the balancer too.
        for n in range(4):
            reply = await _request_via(balancer.base_url, survivor, f"after-{n}")
            assert reply == {"jsonrpc": "2.0", "id": f"after-{n}", "result": {}}

        # And the unlucky client can reconnect.
        again = await open_stream(balancer.base_url, first.token)
        try:
            result = await again.initialize()
            assert result["serverInfo"]["name"] == "example-library"
        finally:
            await again.close()
    finally:
        await doomed.close()
        await survivor.close()


async def test_terminate_from_another_process_closes_the_stream(cluster: Any) -> None:
    first, second, _balancer = cluster
    doomed = await open_stream(first.base_url, first.token)
    bystander = await open_stream(first.base_url, first.token)
    try:
        await doomed.initialize()
        await bystander.initialize()
        terminate = (
            "from asgiref.sync import async_to_sync; "
            "from django_mcp.transports.hub import hub; "
            f"print(async_to_sync(hub.terminate)('{doomed.session_id}', 'terminated'))"
        )
        assert second.manage("shell", "-c", terminate).stdout.strip().endswith("True")
        await doomed.wait(lambda: doomed.ended, 10)
        async with httpx.AsyncClient(base_url=second.base_url) as client:
            after = await client.post(doomed.endpoint, json=ping(1), headers=doomed.headers)
        assert after.status_code == 404
        assert not bystander.ended
        reply = await _request_via(second.base_url, bystander, "still-here")
        assert reply["result"] == {}
    finally:
        await doomed.close()
        await bystander.close()


async def _request_via(base_url: str, session: SseStream, request_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            session.endpoint, json=ping(request_id), headers=session.headers
        )
    assert response.status_code == 202, response.text
    return await session.reply(request_id)


async def test_streams_outlive_the_layer_group_expiry(daphne_server: Any, pg_database: str) -> None:
    """With the list-based Redis layer and a 2-second group expiry, a stream opened
    before the expiry still gets POSTs from the other worker and still hears the
    broadcast that revokes its token."""
    env = {
        "EXAMPLE_DB": "postgres",
        "EXAMPLE_PG_NAME": pg_database,
        "EXAMPLE_CHANNEL_LAYER": "redis-core",
        "EXAMPLE_GROUP_EXPIRY": "2",
        "EXAMPLE_CHANNEL_PREFIX": f"exp{secrets.token_hex(4)}",
    }
    first = daphne_server(**env)
    second = daphne_server(prepare_db=False, token=first.token, **env)
    token = first.create_token("demo")
    session = await open_stream(first.base_url, token)
    try:
        await session.initialize()
        await asyncio.sleep(5)  # more than twice the group expiry
        reply = await _request_via(second.base_url, session, "late")
        assert reply["result"] == {}
        revoke = (
            "from django_mcp.models import ApiToken; "
            f"[t.revoke() for t in ApiToken.objects.filter(prefix='{token[:12]}')]"
        )
        second.manage("shell", "-c", revoke)
        await session.wait(lambda: session.ended, 10)
    finally:
        await session.close()
    async with httpx.AsyncClient(base_url=first.base_url) as client:
        after = await client.post(
            session.endpoint, json=ping("x"), headers={"Authorization": f"Bearer {token}"}
        )
    assert after.status_code == 401


@pytest.fixture(autouse=True)
def _services() -> None:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is missing: .ci/run installs it (apt-get install nginx)")
