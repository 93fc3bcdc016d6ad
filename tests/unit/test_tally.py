"""The vote rules (shared/votes): last ballot counts, binding apart, 3 binding +1 and a majority."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ValidationError
from shared.protocol.votes import BallotContent
from shared.votes import (
    CountedBallot,
    ballot_text,
    check_reviewed,
    compute_tally,
    current_ballots,
    decide,
    explain,
    is_artifact,
    parse_ballot_text,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
END = T0 + timedelta(hours=72)


def b(person: str, value: str, *, binding: bool = True, minute: int = 0, order: int = 0):
    return CountedBallot(
        person=person,
        value=value,  # type: ignore[arg-type]
        binding=binding,
        cast_at=T0 + timedelta(minutes=minute),
        order=order,
    )


def test_three_binding_approvals_pass():
    tally = compute_tally([b("a", "+1"), b("b", "+1"), b("c", "+1")], ends_at=END)
    assert tally.binding == {"+1": 3, "0": 0, "-1": 0}
    assert tally.non_binding == {"+1": 0, "0": 0, "-1": 0}
    assert tally.outcome == "open"
    assert decide(tally.binding) == "passed"


def test_two_binding_approvals_fail_whatever_the_non_binding_say():
    ballots = [b("a", "+1"), b("b", "+1")] + [b(f"x{i}", "+1", binding=False) for i in range(10)]
    tally = compute_tally(ballots, ends_at=END)
    assert tally.binding["+1"] == 2 and tally.non_binding["+1"] == 10
    assert decide(tally.binding) == "failed"
    assert "2 binding +1 votes; at least 3" in explain(tally.binding)


@pytest.mark.parametrize(
    ("plus", "minus", "outcome"),
    [(3, 2, "passed"), (3, 3, "failed"), (4, 3, "passed"), (4, 4, "failed"), (5, 0, "passed")],
)
def test_majority_of_binding_votes(plus, minus, outcome):
    ballots = [b(f"p{i}", "+1") for i in range(plus)] + [b(f"m{i}", "-1") for i in range(minus)]
    binding = compute_tally(ballots, ends_at=END).binding
    assert decide(binding) == outcome
    if outcome == "failed":
        assert "more binding +1 than binding -1" in explain(binding)


def test_zero_votes_count_apart_and_do_not_decide():
    ballots = [b("a", "+1"), b("b", "+1"), b("c", "+1"), b("d", "0"), b("e", "0")]
    tally = compute_tally(ballots, ends_at=END)
    assert tally.binding == {"+1": 3, "0": 2, "-1": 0}
    assert decide(tally.binding) == "passed"


def test_the_last_ballot_of_a_person_counts():
    ballots = [b("a", "-1", minute=1), b("a", "+1", minute=5), b("b", "+1", minute=2)]
    current = current_ballots(ballots)
    assert current["a"].value == "+1"
    assert compute_tally(ballots, ends_at=END).binding == {"+1": 2, "0": 0, "-1": 0}


def test_order_is_by_cast_time_not_by_arrival():
    # An email dated earlier but imported later does not override a later desktop ballot.
    ballots = [b("a", "+1", minute=10, order=1), b("a", "-1", minute=3, order=2)]
    assert current_ballots(ballots)["a"].value == "+1"


def test_ties_on_time_go_to_the_later_recorded_ballot():
    ballots = [b("a", "+1", order=1), b("a", "0", order=2)]
    assert current_ballots(ballots)["a"].value == "0"


def test_a_person_who_became_non_binding_counts_once():
    ballots = [b("a", "+1", binding=True, minute=1), b("a", "+1", binding=False, minute=2)]
    tally = compute_tally(ballots, ends_at=END)
    assert tally.binding["+1"] == 0 and tally.non_binding["+1"] == 1


def test_tally_json_shape_is_the_cli_interface():
    tally = compute_tally([b("a", "+1")], ends_at=END, outcome="failed")
    assert tally.model_dump(mode="json") == {
        "outcome": "failed",
        "ends_at": "2026-01-04T00:00:00Z",
        "binding": {"+1": 1, "0": 0, "-1": 0},
        "non_binding": {"+1": 0, "0": 0, "-1": 0},
    }


# --- the ballot text ------------------------------------------------------------------------------

SHA_A = "a" * 128
SHA_B = "b" * 128
FILES = {
    "acme-1.0-src.tar.gz": SHA_A,
    "acme-1.0-src.tar.gz.asc": SHA_B,
    "acme-1.0-src.tar.gz.sha512": "c" * 128,
}


def content(**changes):
    data = {
        "project": "acme-lib",
        "version": "1.0.0",
        "revision": 2,
        "value": "+1",
        "reviewed": {"acme-1.0-src.tar.gz": SHA_A},
        "comment": "checked sigs — fine",
    }
    data.update(changes)
    return BallotContent.model_validate(data)


def test_ballot_text_round_trips_and_is_ascii_without_trailing_blanks():
    text = ballot_text(content())
    assert text.isascii() and text.endswith("}\n")
    assert all(line == line.rstrip() for line in text.splitlines())
    assert parse_ballot_text(text) == content()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+1", "not a JSON ballot"),
        ("[1, 2]", "must be a JSON object"),
        ('{"project": "acme-lib"}', "ballot is not valid"),
        (ballot_text(content()).replace('"+1"', '"+2"'), "value"),
        (ballot_text(content()).replace("acme-1.0-src.tar.gz", "../x"), "'..' segment"),
    ],
)
def test_bad_ballot_texts_are_refused(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_ballot_text(text)


def test_artifacts_are_files_other_than_signatures_and_checksums():
    assert is_artifact("acme-1.0-src.tar.gz")
    assert is_artifact("acme-1.0.jar")
    assert not is_artifact("acme-1.0-src.tar.gz.asc")
    assert not is_artifact("acme-1.0-src.tar.gz.SHA512")


def test_reviewed_digests_must_match_the_revision():
    check_reviewed({"acme-1.0-src.tar.gz": SHA_A.upper()}, FILES, value="+1")
    with pytest.raises(ValidationError, match="other bytes"):
        check_reviewed({"acme-1.0-src.tar.gz": SHA_B}, FILES, value="+1")
    with pytest.raises(ValidationError, match="not in the revision"):
        check_reviewed({"other.tar.gz": SHA_A}, FILES, value="-1")


def test_an_approval_must_review_every_artifact_a_rejection_need_not():
    files = {**FILES, "acme-1.0-bin.zip": "d" * 128}
    with pytest.raises(ValidationError, match=re.escape("leaves out 'acme-1.0-bin.zip'")):
        check_reviewed({"acme-1.0-src.tar.gz": SHA_A}, files, value="+1")
    check_reviewed({"acme-1.0-src.tar.gz": SHA_A}, files, value="-1")
    check_reviewed({}, files, value="0")
