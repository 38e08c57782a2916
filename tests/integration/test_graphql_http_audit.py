"""The GraphQL-over-HTTP spec's reference audit (npm `graphql-http`), run by Node against a real gateway."""

from __future__ import annotations

import pytest

from tests.conftest import RunningGateway
from tests.support.node_clients import NodeClients, node_clients


@pytest.fixture(scope="session")
def clients() -> NodeClients:
    return node_clients()


async def test_every_audit_of_the_graphql_over_http_spec_passes(gateway: RunningGateway, clients: NodeClients) -> None:
    results = await clients.run("audit.mjs", gateway.url, gateway.token)
    # graphql-http 1.23.1 has 61; a count far below would mean the audits did not run.
    assert len(results) >= 60
    not_ok = [
        f"{r['id']} {r['status']}: {r['name']} ({r['reason']}; got {r['httpStatus']} {r['body'][:200]})"
        for r in results
        if r["status"] != "ok"
    ]
    assert not_ok == []
