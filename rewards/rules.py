"""Rule-based scorers: the environment's own outcome decides, no model involved."""

from __future__ import annotations

from collections.abc import Sequence

from turngym.agents.trajectory import Trajectory

from .judge import Verdict, verdict_from_margin
from .scorers import Rubric, ScoringContext


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


class ScorersJudge:
    """A pairwise judge from reward scorers: a rule of your own (a hidden preference, a
    constitution checked by rules) written as a rubric of scorers.

    margin = T(A) - T(B), with T = sum_k w_k sum_t s_k[t] the rubric's total (a tie, dropped by
    the callers, when equal). Same interface as :class:`~turngym.rewards.judge.LLMJudge`.
    """

    def __init__(self, rubric: Rubric, context: ScoringContext | None = None):
        self.rubric, self.context = rubric, context or ScoringContext()

    def compare(self, pairs: Sequence[tuple[Trajectory, Trajectory]]) -> list[Verdict]:
        flat = [trajectory for pair in pairs for trajectory in pair]
        totals = self.rubric.totals(flat, self.context)
        return [verdict_from_margin(totals[2 * k] - totals[2 * k + 1]) for k in range(len(pairs))]
