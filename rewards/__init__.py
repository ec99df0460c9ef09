"""Reward scorers: rule-based verifiers, learned reward models and LLM judges.

Pairwise judges (:class:`PairwiseJudge`) compare two trajectories of one task and return a
:class:`Verdict`: :class:`LLMJudge` from a language model's answer log-probabilities (any
inference backend), :class:`ChatCompletionsJudge` from an OpenAI-compatible HTTP endpoint,
:class:`RuleJudge` from the environment's outcome. :mod:`turngym.rewards.self_play` turns a
judge into self-play rewards: each trajectory's win rate in its group (the ``spo`` scorer).
The reward stage's scorers are in :mod:`.scorers`, :mod:`.rule_scorers`, :mod:`.math_scorers`
(``math``, ``think_answer``), :mod:`.reward_model` and :mod:`.rubric_judge`.
"""

from . import math_scorers, reward_model, rubric_judge, rule_scorers  # noqa: F401  (register scorers)
from .chat_judge import ChatCompletionsJudge
from .judge import LLMJudge, PairwiseJudge, Verdict, render_trajectory
from .rules import RuleJudge, outcome_key
from .self_play import group_win_rates, judge_from_options  # registers the ``spo`` scorer

__all__ = [
    "ChatCompletionsJudge",
    "LLMJudge",
    "PairwiseJudge",
    "RuleJudge",
    "Verdict",
    "group_win_rates",
    "judge_from_options",
    "outcome_key",
    "render_trajectory",
]
