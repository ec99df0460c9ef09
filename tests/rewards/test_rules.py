"""The rule-based pairwise judge: won, then return, then shorter."""

from __future__ import annotations

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.rewards import RuleJudge, outcome_key


def trajectory(name: str, won: bool, rewards: list[float]) -> Trajectory:
    turns = [
        Turn(f"obs {k}", [1], [2], [0.0], f"act {k}", 0.0, True, reward)
        for k, reward in enumerate(rewards)
    ]
    return Trajectory(name, "g", "turngym/Household-v0", 0, 0, turns=turns, won=won)


WON_LONG = trajectory("won-long", True, [0, 0, 0, 0, 1])
WON_SHORT = trajectory("won-short", True, [0, 1])
LOST_HIGH = trajectory("lost-high-return", False, [0.5, 0.5])  # return 1.0, not won
LOST_LOW = trajectory("lost-low-return", False, [0.1])
LOST_LOW_LONG = trajectory("lost-low-return-long", False, [0.1, 0, 0])


@pytest.mark.parametrize(
    "better, worse",
    [
        (WON_LONG, LOST_HIGH),  # won beats a higher-or-equal return that did not win
        (WON_SHORT, WON_LONG),  # both won, same return: the shorter
        (LOST_HIGH, LOST_LOW),  # neither won: the higher return
        (LOST_LOW, LOST_LOW_LONG),  # same return: the shorter
    ],
)
def test_rule_judge_order(better: Trajectory, worse: Trajectory) -> None:
    forward, backward = RuleJudge().compare([(better, worse), (worse, better)])
    assert (forward.winner, forward.margin) == ("A", 1.0)
    assert (backward.winner, backward.margin) == ("B", -1.0)
    assert forward.log_odds is None and forward.position_bias is None


def test_equal_outcomes_tie() -> None:
    twin = trajectory("twin", False, [0.1])
    (verdict,) = RuleJudge().compare([(LOST_LOW, twin)])
    assert verdict.winner is None and verdict.margin == 0.0


def test_outcome_key_sorts_best_first() -> None:
    ranked = sorted([LOST_LOW_LONG, WON_LONG, LOST_LOW, WON_SHORT, LOST_HIGH], key=outcome_key)
    assert [t.episode_id for t in reversed(ranked)] == [
        "won-short", "won-long", "lost-high-return", "lost-low-return", "lost-low-return-long",
    ]  # fmt: skip
