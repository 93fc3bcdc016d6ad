"""Distribution plans as pure functions, shared by the agent (which computes and executes
them), the desktop (which shows and signs them) and ``atr`` (which prints them to sign).

The text a person signs is the canonical JSON of the plan (sorted keys, two-space
indent, ASCII, a final line end), ``digest`` included: ``sha256:`` and the hex SHA-256
of the canonical JSON of the plan *without* its digest. The agent accepts an approval
only if the signed text is exactly the text of the plan it would execute now.
"""

from __future__ import annotations

import hashlib
import json

import pydantic

from shared.errors import ValidationError
from shared.protocol.distribute import DistributionPlan

__all__ = ["parse_plan_text", "plan_digest", "plan_text", "with_digest"]


def _canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def plan_digest(plan: DistributionPlan) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``plan`` without its ``digest``."""
    data = plan.model_dump(mode="json", exclude={"digest"})
    return "sha256:" + hashlib.sha256(_canonical(data).encode()).hexdigest()


def with_digest(plan: DistributionPlan) -> DistributionPlan:
    """``plan`` with its ``digest`` filled in."""
    return plan.model_copy(update={"digest": plan_digest(plan)})


def plan_text(plan: DistributionPlan) -> str:
    """The canonical text of ``plan`` (digest filled in), ready to clear-sign."""
    return _canonical(with_digest(plan).model_dump(mode="json"))


def parse_plan_text(text: str) -> DistributionPlan:
    """The plan in a signed text, its digest checked; :class:`ValidationError` otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"the signed text is not a distribution plan: {exc.msg} (line {exc.lineno})",
            hint="sign the text 'atr distribute plan' prints, unchanged",
        ) from exc
    try:
        plan = DistributionPlan.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "plan"
        raise ValidationError(f"the signed plan is not valid: {where}: {first['msg']}") from exc
    if plan.digest != plan_digest(plan):
        raise ValidationError(
            "the signed plan's digest does not match its content: it was changed before signing"
        )
    return plan
