"""Rule-based scorers: the environment's own outcome decides, no model involved."""

from __future__ import annotations

from collections.abc import Sequence

from turngym.agents.trajectory import Trajectory

from .judge import Verdict, verdict_from_margin


def outcome_key(trajectory: Trajectory) -> tuple[bool, float, int]:
    """(won, return, -length): larger is better, compared in that order."""
    return (trajectory.won, trajectory.return_, -trajectory.length)


class RuleJudge:
    """A pairwise judge from outcomes: won beats lost; then the higher return; then the shorter.

    margin = +1 if key(A) > key(B), -1 if key(A) < key(B), 0 (a tie) if equal, with
    key = :func:`outcome_key`. Same interface as :class:`~turngym.rewards.judge.LLMJudge`.
    """

    def compare(self, pairs: Sequence[tuple[Trajectory, Trajectory]]) -> list[Verdict]:
        verdicts = []
        for a, b in pairs:
            key_a, key_b = outcome_key(a), outcome_key(b)
            verdicts.append(verdict_from_margin(float((key_a > key_b) - (key_a < key_b))))
        return verdicts
