"""Rule-based scalar scorers of the reward stage: exact match, regex match and a length
penalty. Each gives a score and a reason; none needs a model.

- ``exact_match``: s = 1 if the episode's final answer (the last turn's action, or its whole
  reply with ``on: response``) equals the task's target after normalisation (case, white space,
  surrounding punctuation and quotes), else 0; on the last turn.
- ``regex_match``: s[t] = 1 if the pattern occurs in turn t's text (``fullmatch: true``: is the
  whole text), else 0; ``level: episode`` scores the last turn only, ``any`` 1 on the last turn
  if any turn matches.
- ``length_penalty``: s[t] = -max(0, |y_t| - L) / L for a reply of |y_t| tokens (or characters,
  ``unit: chars``) and a target length L: 0 up to L, -1 at 2L (the weight is the coefficient).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from turngym.agents.trajectory import Trajectory, Turn

from .scorers import Score, ScoringContext, register_scorer

_EDGE = re.compile(r"^[\s\"'`.,;:!?()\[\]]+|[\s\"'`.,;:!?()\[\]]+$")


def normalize_answer(text: str) -> str:
    """Lower case, white space collapsed, surrounding punctuation and quotes dropped."""
    return _EDGE.sub("", " ".join(text.lower().split()))


def turn_text(turn: Turn, on: str) -> str:
    """The text a rule reads: the parsed ``action`` or the whole ``response`` (else the action)."""
    return turn.action if on == "action" else (turn.response_text or turn.action)


def _check_on(on: str) -> str:
    if on not in ("action", "response"):
        raise ValueError(f"on must be 'action' or 'response', got {on!r}")
    return on


@register_scorer("exact_match")
class ExactMatch:
    """The final answer equals the target (see the module docstring).

    Args:
        target: one answer for every task; or
        targets: task id -> answer, a mapping or the path of a JSON object file.
        on: ``action`` or ``response``.
    """

    needs = ()

    def __init__(
        self,
        target: str | None = None,
        targets: dict[str, str] | str | None = None,
        on: str = "action",
    ):
        if (target is None) == (targets is None):
            raise ValueError("give target (one answer) or targets (task id -> answer)")
        if isinstance(targets, str):
            path = Path(targets)
            try:
                targets = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ValueError(f"targets file {path}: {error}") from None
            if not isinstance(targets, dict):
                raise ValueError(f"targets file {path} must hold a JSON object")
        self.target = target
        self.targets = {str(k): str(v) for k, v in (targets or {}).items()}
        self.on = _check_on(on)

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        scores = []
        for trajectory in trajectories:
            target = self.target if self.target is not None else self.targets.get(
                str(trajectory.task_id)
            )  # fmt: skip
            if target is None:
                raise ValueError(f"exact_match has no target for task {trajectory.task_id!r}")
            answer = turn_text(trajectory.turns[-1], self.on) if trajectory.turns else ""
            hit = normalize_answer(answer) == normalize_answer(target)
            scores.append(Score(episode=float(hit), reason=f"{answer[:80]!r} "
                                f"{'matches' if hit else 'is not'} {target[:80]!r}"))  # fmt: skip
        return scores


@register_scorer("regex_match")
class RegexMatch:
    """Turns whose text matches a regular expression (see the module docstring).

    Args:
        pattern: the regular expression (``re.DOTALL``).
        on: ``action`` or ``response``.
        level: ``turn``, ``episode`` (the last turn) or ``any``.
        fullmatch: the whole text must match.
        ignore_case: match regardless of case.
    """

    needs = ()

    def __init__(
        self,
        pattern: str,
        on: str = "response",
        level: str = "turn",
        fullmatch: bool = False,
        ignore_case: bool = False,
    ):
        try:
            self.pattern = re.compile(pattern, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
        except re.error as error:
            raise ValueError(f"pattern {pattern!r} is not a regular expression: {error}") from None
        if level not in ("turn", "episode", "any"):
            raise ValueError(f"level must be 'turn', 'episode' or 'any', got {level!r}")
        self.on, self.level, self.fullmatch = _check_on(on), level, fullmatch

    def matches(self, turn: Turn) -> bool:
        text = turn_text(turn, self.on)
        found = self.pattern.fullmatch(text) if self.fullmatch else self.pattern.search(text)
        return found is not None

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        scores = []
        for trajectory in trajectories:
            hits = [float(self.matches(turn)) for turn in trajectory.turns]
            reason = f"{int(sum(hits))}/{len(hits)} turns match"
            if self.level == "turn":
                scores.append(Score(turns=hits, reason=reason))
            else:
                value = (hits[-1] if self.level == "episode" else max(hits)) if hits else 0.0
                scores.append(Score(episode=value, reason=reason))
        return scores


@register_scorer("length_penalty")
class LengthPenalty:
    """-max(0, |y_t| - L) / L per turn (see the module docstring).

    Args:
        target_length: L, in tokens (``response_ids``) or characters.
        unit: ``tokens`` or ``chars``.
    """

    needs = ()

    def __init__(self, target_length: int, unit: str = "tokens"):
        if target_length <= 0:
            raise ValueError(f"target_length must be > 0, got {target_length}")
        if unit not in ("tokens", "chars"):
            raise ValueError(f"unit must be 'tokens' or 'chars', got {unit!r}")
        self.target_length, self.unit = target_length, unit

    def length(self, turn: Turn) -> int:
        return len(turn.response_ids) if self.unit == "tokens" else len(turn_text(turn, "response"))

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        limit = self.target_length
        scores = []
        for trajectory in trajectories:
            lengths = [self.length(turn) for turn in trajectory.turns]
            penalties = [-max(0, n - limit) / limit for n in lengths]
            over = sum(n > limit for n in lengths)
            scores.append(Score(turns=penalties, reason=f"{over}/{len(lengths)} turns over "
                                                        f"{limit} {self.unit}"))  # fmt: skip
        return scores
