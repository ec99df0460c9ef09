"""Reward scorers: rule-based verifiers, learned reward models and LLM judges.

Pairwise judges (:class:`PairwiseJudge`) compare two trajectories of one task and return a
:class:`Verdict`: :class:`LLMJudge` from a language model's answer log-probabilities (any
inference backend), :class:`ChatCompletionsJudge` from an OpenAI-compatible HTTP endpoint,
:class:`RuleJudge` from the environment's outcome. The reward stage's scorers are in
:mod:`.scorers` and :mod:`.math_scorers` (``math``, ``think_answer``).
"""

from . import math_scorers  # noqa: F401 (registers the math and think_answer scorers)
from .chat_judge import ChatCompletionsJudge
from .judge import LLMJudge, PairwiseJudge, Verdict, render_trajectory
from .rules import RuleJudge, outcome_key

__all__ = [
    "ChatCompletionsJudge",
    "LLMJudge",
    "PairwiseJudge",
    "RuleJudge",
    "Verdict",
    "outcome_key",
    "render_trajectory",
]
