"""The ASF's release vote rules as pure functions.

* Each person's last ballot counts (by the time it was cast; ties: the later
  recorded one). Earlier ballots of the same person are superseded.
* Binding and non-binding ballots are counted apart; only binding ones decide.
* A vote passes with at least :data:`MIN_BINDING_APPROVALS` binding +1 and more
  binding +1 than binding -1. There is no veto on a release vote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.protocol.votes import BallotValue, Tally, VoteOutcome

__all__ = [
    "MIN_BINDING_APPROVALS",
    "VALUES",
    "CountedBallot",
    "compute_tally",
    "current_ballots",
    "decide",
    "empty_counts",
    "explain",
]

MIN_BINDING_APPROVALS = 3
VALUES: tuple[BallotValue, ...] = ("+1", "0", "-1")

Counts = dict[BallotValue, int]


@dataclass(frozen=True, slots=True)
class CountedBallot:
    """One ballot as the rules see it.

    ``person`` identifies the voter across sources (a user name, or an email address
    for an unknown sender); ``order`` breaks ties of ``cast_at`` (e.g. a row id).
    """

    person: str
    value: BallotValue
    binding: bool
    cast_at: datetime
    order: int = 0


def empty_counts() -> Counts:
    """``{"+1": 0, "0": 0, "-1": 0}``."""
    return dict.fromkeys(VALUES, 0)


def current_ballots(ballots: Iterable[CountedBallot]) -> dict[str, CountedBallot]:
    """Person → the ballot that counts for them (their last one)."""
    latest: dict[str, CountedBallot] = {}
    for ballot in ballots:
        seen = latest.get(ballot.person)
        if seen is None or (ballot.cast_at, ballot.order) >= (seen.cast_at, seen.order):
            latest[ballot.person] = ballot
    return latest


def _count(ballots: Iterable[CountedBallot]) -> tuple[Counts, Counts]:
    binding, non_binding = empty_counts(), empty_counts()
    for ballot in ballots:
        (binding if ballot.binding else non_binding)[ballot.value] += 1
    return binding, non_binding


def decide(binding: Mapping[BallotValue, int]) -> Literal["passed", "failed"]:
    """The outcome of a vote whose time is up, from its binding counts."""
    approvals, rejections = binding.get("+1", 0), binding.get("-1", 0)
    if approvals >= MIN_BINDING_APPROVALS and approvals > rejections:
        return "passed"
    return "failed"


def explain(binding: Mapping[BallotValue, int]) -> str:
    """Why :func:`decide` gives its outcome, in one sentence for the dev list."""
    approvals, rejections = binding.get("+1", 0), binding.get("-1", 0)
    votes = "vote" if approvals == 1 else "votes"
    if approvals < MIN_BINDING_APPROVALS:
        return (
            f"the vote has {approvals} binding +1 {votes}; "
            f"at least {MIN_BINDING_APPROVALS} are needed"
        )
    if approvals <= rejections:
        return (
            f"the vote has {approvals} binding +1 and {rejections} binding -1; "
            "more binding +1 than binding -1 are needed"
        )
    return (
        f"the vote has {approvals} binding +1 (at least {MIN_BINDING_APPROVALS} needed) "
        f"and {rejections} binding -1"
    )


def compute_tally(
    ballots: Iterable[CountedBallot],
    *,
    ends_at: datetime,
    outcome: VoteOutcome = "open",
) -> Tally:
    """The tally of ``ballots`` (each person's last one), with ``outcome`` as given.

    Pass ``outcome="open"`` while the vote runs; a decided vote passes its stored
    outcome (see :func:`decide`).
    """
    binding, non_binding = _count(current_ballots(ballots).values())
    return Tally(outcome=outcome, ends_at=ends_at, binding=binding, non_binding=non_binding)
