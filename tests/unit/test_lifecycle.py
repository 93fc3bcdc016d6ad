import pytest

from shared.errors import TransitionError
from shared.lifecycle import (
    INITIAL_PHASE,
    TRANSITIONS,
    Phase,
    allowed_transitions,
    check_transition,
)


def test_every_phase_has_a_row():
    assert set(TRANSITIONS) == set(Phase)


def test_every_phase_is_reachable_from_compose():
    seen = {INITIAL_PHASE}
    frontier = [INITIAL_PHASE]
    while frontier:
        for nxt in allowed_transitions(frontier.pop()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Phase)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Phase.COMPOSE, Phase.CHECKS),
        (Phase.CHECKS, Phase.CANDIDATE),
        (Phase.CANDIDATE, Phase.VOTE),
        (Phase.VOTE, Phase.PASSED),
        (Phase.VOTE, Phase.FAILED),
        (Phase.FAILED, Phase.COMPOSE),
        (Phase.ANNOUNCED, Phase.ARCHIVED),
    ],
)
def test_allowed(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Phase.COMPOSE, Phase.VOTE),
        (Phase.CHECKS, Phase.PASSED),
        (Phase.VOTE, Phase.COMPOSE),
        (Phase.ARCHIVED, Phase.COMPOSE),
        (Phase.PASSED, Phase.FAILED),
    ],
)
def test_refused_with_a_clear_error(current, target):
    with pytest.raises(TransitionError) as info:
        check_transition(current, target)
    assert f"'{current}'" in str(info.value)
    assert f"'{target}'" in str(info.value)
    assert info.value.hint is not None


def test_final_phase_says_so():
    with pytest.raises(TransitionError) as info:
        check_transition(Phase.ARCHIVED, Phase.COMPOSE)
    assert "final phase" in info.value.diagnostics()
