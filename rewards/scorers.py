"""The reward stage: scorers that turn trajectories into reward terms, and the rubric that
composes them with weights.

A scorer reads finished trajectories and returns, for each, per-turn scores and/or one
episode score (added to the last turn) with a reason. The :class:`Rubric` of an RL run is a
weighted list of scorers; for trajectory i, turn t:

    r_total[i, t] = sum_k w_k * s_k[i, t]

where s_k[i, t] is scorer k's per-turn score, plus its episode score at the last turn. Each
weighted term is written beside the environment's reward, never over it: ``turn.reward`` stays
what the environment returned, ``turn.reward_terms[name]`` holds ``w_k * s_k[i, t]``, and
``turn.total_reward`` (what the advantage estimators read) is their sum. A saved trajectory so
keeps what the environment said and what each scorer added; ``trajectory.reward_reasons``
keeps each scorer's reason.

Scorers that need more than the trajectories say so in ``needs``; the training loop supplies it
in the :class:`ScoringContext` (the KL scorer needs each turn's KL to the reference policy, which
only the loop can compute). Built in: ``env`` (the environment's own reward), ``format`` (the
action tag is there), ``overlong`` (DAPO's soft overlong penalty) and ``kl`` (a KL penalty in
the reward). More register with :func:`register_scorer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from turngym.agents.trajectory import Trajectory


@dataclass
class Score:
    """One trajectory's scores from one scorer (unweighted)."""

    turns: list[float] | None = None  # one per turn, or None
    episode: float | None = None  # added to the last turn, or None
    reason: str = ""


@dataclass
class ScoringContext:
    """What the loop knows beyond the trajectories, for scorers that declare a need of it.

    Attributes:
        max_new_tokens: the agent's response budget per turn (``overlong``).
        turn_kl: per trajectory, per turn, the KL estimate of the policy that acted to the
            reference policy, summed over the turn's units (``kl``).
    """

    max_new_tokens: int | None = None
    turn_kl: list[list[float]] | None = None


class Scorer(Protocol):
    """Scores trajectories; ``needs`` names the :class:`ScoringContext` fields it reads."""

    needs: tuple[str, ...]

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]: ...


SCORERS: dict[str, Callable[..., Scorer]] = {}


def register_scorer(name: str) -> Callable:
    """Register a scorer class (or factory) under ``name``; its keyword arguments are the
    scorer's options in the config (``reward.scorers[k].options``)."""

    def add(factory: Callable[..., Scorer]) -> Callable[..., Scorer]:
        if name in SCORERS:
            raise ValueError(f"a scorer named {name!r} is already registered")
        SCORERS[name] = factory
        return factory

    return add


def make_scorer(name: str, options: dict[str, Any] | None = None) -> Scorer:
    """The registered scorer ``name`` built with ``options``; a clear error naming the scorer
    for an unknown name or option."""
    if name not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; registered: {sorted(SCORERS)}")
    try:
        return SCORERS[name](**(options or {}))
    except TypeError as error:
        raise ValueError(f"scorer {name!r}: {error}") from None


@register_scorer("env")
class EnvironmentReward:
    """s[t] = the environment's reward at turn t (``turn.reward``)."""

    needs = ()

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        return [Score(turns=[turn.reward for turn in t.turns], reason="environment") for t in
                trajectories]  # fmt: skip


@register_scorer("format")
class ActionFormat:
    """s[t] = 1 if the turn's reply carries its action in the expected form, else 0.

    Args:
        pattern: a regular expression the whole reply must match (``re.DOTALL``); the default
            accepts an optional ``<think>...</think>`` block and one ``<action>...</action>``.
    """

    needs = ()

    def __init__(self, pattern: str = r"\s*(<think>.*?</think>\s*)?<action>.+?</action>\s*"):
        self.pattern = re.compile(pattern, re.DOTALL)

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        out = []
        for trajectory in trajectories:
            hits = [float(bool(self.pattern.fullmatch(t.response_text))) for t in trajectory.turns]
            out.append(Score(turns=hits, reason=f"{int(sum(hits))}/{len(hits)} turns formatted"))
        return out


@register_scorer("overlong")
class OverlongPenalty:
    """DAPO's soft overlong penalty (Yu et al., 2025): with L = the response budget
    (``max_new_tokens``) and C = ``buffer``, a reply of |y| tokens scores

        s = min(0, (L - C - |y|) / C),

    0 up to L - C tokens, falling linearly to -1 at L. The weight is DAPO's penalty factor.
    """

    needs = ("max_new_tokens",)

    def __init__(self, buffer: int = 0):
        if buffer <= 0:
            raise ValueError(f"buffer must be > 0 tokens, got {buffer}")
        self.buffer = buffer

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        if context.max_new_tokens is None:
            raise ValueError("the overlong scorer needs the agent's max_new_tokens")
        limit = context.max_new_tokens - self.buffer
        return [
            Score(turns=[min(0.0, (limit - len(turn.response_ids)) / self.buffer)
                         for turn in t.turns], reason=f"buffer {self.buffer}")
            for t in trajectories
        ]  # fmt: skip


@register_scorer("kl")
class KLPenalty:
    """A KL penalty in the reward: s[t] = -KL_t, the per-turn estimate of KL(pi_old || pi_ref)
    summed over the turn's units, which the loop computes (``turn_kl``). The weight is beta."""

    needs = ("turn_kl",)

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        if context.turn_kl is None:
            raise ValueError("the kl scorer needs the loop's per-turn KL to the reference")
        return [Score(turns=[-kl for kl in kls], reason="kl to the reference") for kls in
                context.turn_kl]  # fmt: skip


@dataclass
class RubricTerm:
    name: str
    scorer: Scorer
    weight: float = 1.0


@dataclass
class Rubric:
    """A weighted sum of scorers (see the module docstring)."""

    terms: list[RubricTerm] = field(default_factory=list)

    @classmethod
    def from_specs(cls, specs: Sequence[Any]) -> Rubric:
        """From config entries with ``name``, ``weight`` and ``options`` (each scorer once)."""
        names = [spec.name for spec in specs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"scorers {repeated} appear more than once in the rubric")
        return cls([RubricTerm(s.name, make_scorer(s.name, s.options), s.weight) for s in specs])

    @property
    def needs(self) -> set[str]:
        return {need for term in self.terms for need in term.scorer.needs}

    def apply(
        self, trajectories: Sequence[Trajectory], context: ScoringContext | None = None
    ) -> dict[str, float]:
        """Write each weighted term into ``turn.reward_terms`` and each reason into
        ``trajectory.reward_reasons``; per scorer, the mean weighted term per turn
        (``reward/<name>``) and per episode (``reward/<name>_per_episode``)."""
        context = context or ScoringContext()
        turns = sum(t.length for t in trajectories)
        metrics: dict[str, float] = {}
        for term in self.terms:
            scores = term.scorer.score(trajectories, context)
            if len(scores) != len(trajectories):
                raise ValueError(f"scorer {term.name!r} returned {len(scores)} scores for "
                                 f"{len(trajectories)} trajectories")  # fmt: skip
            total = 0.0
            for trajectory, score in zip(trajectories, scores, strict=True):
                values = _turn_values(trajectory, score, term.name)
                for turn, value in zip(trajectory.turns, values, strict=True):
                    turn.reward_terms[term.name] = term.weight * value
                    total += term.weight * value
                trajectory.reward_reasons[term.name] = score.reason
            metrics[f"reward/{term.name}"] = total / turns if turns else 0.0
            metrics[f"reward/{term.name}_per_episode"] = (
                total / len(trajectories) if trajectories else 0.0
            )
        return metrics

    def totals(
        self, trajectories: Sequence[Trajectory], context: ScoringContext | None = None
    ) -> list[float]:
        """Each trajectory's total sum_k w_k sum_t s_k[t], without writing into it."""
        context = context or ScoringContext()
        totals = [0.0] * len(trajectories)
        for term in self.terms:
            scores = term.scorer.score(trajectories, context)
            for index, (trajectory, score) in enumerate(zip(trajectories, scores, strict=True)):
                totals[index] += term.weight * sum(_turn_values(trajectory, score, term.name))
        return totals


def _turn_values(trajectory: Trajectory, score: Score, name: str) -> list[float]:
    values = [0.0] * trajectory.length
    if score.turns is not None:
        if len(score.turns) != trajectory.length:
            raise ValueError(f"scorer {name!r} gave {len(score.turns)} turn scores for a "
                             f"trajectory of {trajectory.length} turns")  # fmt: skip
        values = [float(v) for v in score.turns]
    if score.episode is not None and values:
        values[-1] += float(score.episode)
    return values
