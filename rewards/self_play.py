"""Self-play rewards from a pairwise judge: each trajectory scored by how often it beats the other
trajectories of its group (the rollouts of one task from the same initial state).

SPO (Swamy et al., 2024, "A Minimaximalist Approach to Reinforcement Learning from Human
Feedback"): with a preference function P(xi > xi') (a judge), the reward of trajectory xi_i of a
group of G is its win rate against the others,

    r(xi_i) = 1 / (G - 1) * sum_{j != i} P(xi_i > xi_j),

and any on-policy estimator (GRPO, GiGPO, RLOO, PPO with a critic, ...) maximizes it: the policy
plays against itself, and a non-transitive or noisy preference needs no reward model. P is 1 for
a win, 0 for a loss and 1/2 for a tie (``preference: hard``), or the judge's probability
sigmoid(margin) (``preference: soft``, for judges whose margin is a log-odds: the LLM and chat
judges). A group of one has no opponent and gets 1/2. Multi-turn: the judge compares whole
trajectories, and the win rate is the episode score, added to the last turn (the estimator
spreads it).

:func:`group_win_rates` is also SPPO's estimate of P(y > pi_t | x) (:mod:`turngym.algos.sppo`).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal

from turngym.agents.trajectory import Trajectory

from .chat_judge import ChatCompletionsJudge
from .judge import LLMJudge, PairwiseJudge, Verdict
from .rules import RuleJudge
from .scorers import Score, ScoringContext, register_scorer

#: the options each judge kind reads, besides ``kind``
JUDGE_OPTIONS = {
    "rule": (),
    "llm": ("model", "tie_threshold"),
    "chat": ("model", "base_url", "api_key_env", "tie_threshold"),
}


def judge_from_options(options: dict[str, Any] | None) -> PairwiseJudge:
    """A judge from a plain mapping: ``{kind: rule}``, ``{kind: llm, model: NAME_OR_PATH}`` or
    ``{kind: chat, base_url: URL, model: NAME, api_key_env: VAR}`` (``tie_threshold`` for
    both model judges). Unknown kinds and options fail naming what is allowed."""
    options = dict(options or {"kind": "rule"})
    kind = options.pop("kind", "rule")
    if kind not in JUDGE_OPTIONS:
        raise ValueError(f"judge kind {kind!r} is unknown; use one of {sorted(JUDGE_OPTIONS)}")
    stray = sorted(set(options) - set(JUDGE_OPTIONS[kind]))
    if stray:
        raise ValueError(f"judge kind {kind!r} does not read {stray}; it reads "
                         f"{list(JUDGE_OPTIONS[kind])}")  # fmt: skip
    if kind == "rule":
        return RuleJudge()
    if not options.get("model"):
        raise ValueError(f"judge kind {kind!r} needs model (a Hugging Face name or path, or "
                         "the name the server expects)")  # fmt: skip
    threshold = float(options.get("tie_threshold", 0.0))
    if kind == "llm":
        return LLMJudge.from_pretrained(options["model"], tie_threshold=threshold)
    if not options.get("base_url"):
        raise ValueError("judge kind 'chat' needs base_url (the API root, e.g. http://host/v1)")
    key_variable = options.get("api_key_env")
    if key_variable and key_variable not in os.environ:
        raise ValueError(f"api_key_env={key_variable!r} names an environment variable that is "
                         "not set")  # fmt: skip
    api_key = os.environ[key_variable] if key_variable else None
    return ChatCompletionsJudge(options["base_url"], options["model"], api_key=api_key,
                                tie_threshold=threshold)  # fmt: skip


def preference_of(verdict: Verdict, preference: str = "hard") -> float:
    """P(A > B) from one verdict: 1, 0 or 1/2 (``hard``), or sigmoid(margin) (``soft``)."""
    if preference == "soft":
        return 1.0 / (1.0 + math.exp(-verdict.margin))
    return {"A": 1.0, "B": 0.0, None: 0.5}[verdict.winner]


def group_win_rates(
    trajectories: Sequence[Trajectory],
    judge: PairwiseJudge,
    preference: str = "hard",
    include_self: bool = False,
) -> list[float]:
    """Per trajectory, the mean of P(it > other) over the other members of its group
    (``group_id``); every pair of a group is judged once, all groups in one ``compare`` call.

    ``include_self``: the mean runs over all G members, itself counting 1/2 (SPPO's
    1/K sum_k P(y > y_k)); a group of one then gets 1/2 as well.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for index, trajectory in enumerate(trajectories):
        members[trajectory.group_id].append(index)
    pairs = [pair for group in members.values() for pair in combinations(group, 2)]
    verdicts = judge.compare([(trajectories[i], trajectories[j]) for i, j in pairs])
    if len(verdicts) != len(pairs):
        raise ValueError(f"the judge returned {len(verdicts)} verdicts for {len(pairs)} pairs")
    wins = [0.0] * len(trajectories)
    for (i, j), verdict in zip(pairs, verdicts, strict=True):
        p = preference_of(verdict, preference)
        wins[i] += p
        wins[j] += 1.0 - p
    rates = [0.5] * len(trajectories)
    for group in members.values():
        for i in group:
            if include_self:
                rates[i] = (wins[i] + 0.5) / len(group)
            elif len(group) > 1:
                rates[i] = wins[i] / (len(group) - 1)
    return rates


@register_scorer("spo")
class SelfPlayWinRate:
    """SPO's reward: the episode score of a trajectory is its win rate against the other
    trajectories of its group under a pairwise judge (see the module docstring).

    Args:
        judge: the judge's options (:func:`judge_from_options`); default ``{kind: rule}``.
        preference: ``hard`` (1, 0, 1/2 from the verdict) or ``soft`` (sigmoid of the margin).
    """

    needs = ()

    def __init__(
        self,
        judge: dict[str, Any] | None = None,
        preference: Literal["hard", "soft"] = "hard",
    ):
        if preference not in ("hard", "soft"):
            raise ValueError(f"preference={preference!r}: use 'hard' or 'soft'")
        self.judge = judge_from_options(judge)
        self.preference = preference

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        rates = group_win_rates(trajectories, self.judge, self.preference)
        sizes: dict[str, int] = defaultdict(int)
        for trajectory in trajectories:
            sizes[trajectory.group_id] += 1
        return [
            Score(episode=rate, reason=f"won {rate:.2f} against {sizes[t.group_id] - 1} others")
            for t, rate in zip(trajectories, rates, strict=True)
        ]
