"""The release lifecycle: its phases and the one table of allowed transitions.

::

    compose ─► checks ─► candidate ─► staged ─► vote ─► passed ─► distribute ─► announced
                                                                                   └─► archived
       ▲          │          │  └──────────────►┘ │                   │
       └──────────┴──────────┴──── failed ◄───────┴───────────────────┘

Every phase change anywhere in the product goes through :func:`check_transition`,
so an illegal change is refused with the same clear error by the REST API, the
websocket commands, the CLI and the desktop.
"""

from __future__ import annotations

from enum import StrEnum

from shared.errors import TransitionError


class Phase(StrEnum):
    """Where a release stands. Values are the wire and database spelling."""

    COMPOSE = "compose"
    CHECKS = "checks"
    CANDIDATE = "candidate"
    STAGED = "staged"
    VOTE = "vote"
    PASSED = "passed"
    DISTRIBUTE = "distribute"
    ANNOUNCED = "announced"
    ARCHIVED = "archived"
    FAILED = "failed"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    # Files are added and replaced only while composing; the RM asks for checks.
    Phase.COMPOSE: frozenset({Phase.CHECKS}),
    # Checks end in a candidate (no blocker), a failure, or back to compose to fix files.
    Phase.CHECKS: frozenset({Phase.CANDIDATE, Phase.FAILED, Phase.COMPOSE}),
    # A candidate may go to test repositories first, or straight to the vote.
    Phase.CANDIDATE: frozenset({Phase.STAGED, Phase.VOTE, Phase.COMPOSE, Phase.FAILED}),
    Phase.STAGED: frozenset({Phase.VOTE, Phase.COMPOSE, Phase.FAILED}),
    Phase.VOTE: frozenset({Phase.PASSED, Phase.FAILED}),
    Phase.PASSED: frozenset({Phase.DISTRIBUTE}),
    Phase.DISTRIBUTE: frozenset({Phase.ANNOUNCED, Phase.FAILED}),
    Phase.ANNOUNCED: frozenset({Phase.ARCHIVED}),
    Phase.ARCHIVED: frozenset(),
    # A failed release is fixed in a new round of composing.
    Phase.FAILED: frozenset({Phase.COMPOSE}),
}

INITIAL_PHASE = Phase.COMPOSE
"""The phase of a newly created release."""

MUTABLE_PHASES = frozenset({Phase.COMPOSE})
"""Phases in which a release accepts new revisions."""


def allowed_transitions(current: Phase) -> frozenset[Phase]:
    """The phases a release in ``current`` may move to."""
    return TRANSITIONS[current]


def check_transition(current: Phase, target: Phase) -> None:
    """Raise :class:`TransitionError` unless ``current`` → ``target`` is in the table."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final phase)"
        raise TransitionError(
            f"a release in phase '{current}' cannot move to '{target}'",
            hint=f"from '{current}' it can move to: {allowed}",
        )
