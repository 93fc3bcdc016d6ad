"""AgentClient.distribution_plan over httpx.MockTransport: a plan that is not ready yet (409 with
Retry-After, while the agent writes the attestations a passed vote asks for) is asked for again;
any other refusal, or one past the wait, is the agent's own error."""

from __future__ import annotations

import httpx
import pytest

from shared.client import AgentClient
from shared.errors import ApiError
from shared.protocol.distribute import DistributionPlan

BASE = "http://agent.test:8765"
PLAN = DistributionPlan(
    kind="production", project="acme-lib", version="1.0.0", revision=1, channels=[]
)
NOT_READY = {
    "code": "conflict",
    "message": "the attestations of acme-lib 1.0.0 are being written; "
    "its plan is ready in a moment",
    "hint": "ask for the plan again in a few seconds",
}


def client_answering(answers: list[httpx.Response], seen: list[httpx.Request]) -> AgentClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return AgentClient(BASE, token="t", transport=httpx.MockTransport(handler))


def not_ready(retry_after: str | None = "0") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(409, json=NOT_READY, headers=headers)


async def test_a_plan_not_ready_yet_is_asked_for_again() -> None:
    seen: list[httpx.Request] = []
    answers = [not_ready(), not_ready(), httpx.Response(200, json=PLAN.model_dump(mode="json"))]
    async with client_answering(answers, seen) as client:
        assert await client.distribution_plan("acme-lib", "1.0.0") == PLAN
    assert len(seen) == 3
    assert all(r.url.path.endswith("/releases/1.0.0/distribution/plan") for r in seen)


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        (not_ready(retry_after=None), 60.0),  # a conflict that says nothing of a retry
        (not_ready(retry_after="30"), 5.0),  # ready only after the caller's wait
        (httpx.Response(403, json={"code": "forbidden", "message": "no", "hint": None}), 60.0),
    ],
)
async def test_other_refusals_are_the_agents_own_error(answer: httpx.Response, wait: float) -> None:
    seen: list[httpx.Request] = []
    async with client_answering([answer], seen) as client:
        with pytest.raises(ApiError) as err:
            await client.distribution_plan("acme-lib", "1.0.0", wait=wait)
    assert err.value.status == answer.status_code and len(seen) == 1
    if answer.status_code == 409:
        assert "being written" in err.value.message
