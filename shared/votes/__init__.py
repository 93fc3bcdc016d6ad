"""Release votes as pure functions, shared by the agent (which decides) and the desktop (which
shows the same tally and builds the ballot a voter signs).

* :mod:`shared.votes.tally` — the last ballot of each person counts; binding and
  non-binding apart; a vote passes with at least three binding +1 and more binding +1
  than binding -1.
* :mod:`shared.votes.ballot` — the text of a ballot (canonical JSON of
  :class:`shared.protocol.votes.BallotContent`), reading it back, and which files of a
  revision a +1 must have reviewed.
"""

from shared.votes.ballot import (
    SOURCE_TEXT,
    ballot_text,
    check_reviewed,
    is_artifact,
    parse_ballot_text,
)
from shared.votes.tally import (
    MIN_BINDING_APPROVALS,
    CountedBallot,
    compute_tally,
    current_ballots,
    decide,
    empty_counts,
    explain,
)

__all__ = [
    "MIN_BINDING_APPROVALS",
    "SOURCE_TEXT",
    "CountedBallot",
    "ballot_text",
    "check_reviewed",
    "compute_tally",
    "current_ballots",
    "decide",
    "empty_counts",
    "explain",
    "is_artifact",
    "parse_ballot_text",
]
