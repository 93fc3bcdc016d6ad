"""A property-based sweep of the whole API: no answer may be a 5xx.

Schemathesis reads the agent's own OpenAPI document and sends each operation requests
generated from it (valid ones, and ones just outside the schema: huge integers, odd
strings, missing fields), as an admin so that the requests reach the handlers. The
sweep is bounded (:data:`EXAMPLES` per operation) so that it fits the suite's time; run
it longer by hand with ``ATR_FUZZ_EXAMPLES=200``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from agent.app import create_app
from agent.config import Settings
from tests.support.agent import AgentProcess

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("ATR_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzzed_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """An agent of its own: the sweep creates users, projects and tokens at random."""
    process = AgentProcess(tmp_path_factory.mktemp("fuzz"), workers=0)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _document() -> dict:
    """The agent's OpenAPI document, as the app builds it (no server needed to read it)."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)), start_workers=False)
        return app.openapi()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_answer_is_a_server_error(case: schemathesis.Case, fuzzed_agent: AgentProcess) -> None:
    response = case.call(
        base_url=fuzzed_agent.url,
        headers={"Authorization": f"Bearer {fuzzed_agent.admin_token}"},
        timeout=60,
    )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: "
        f"{response.text[:500]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "hint"}, body
