"""Reward-stage scorers for math (:mod:`turngym.rewards.scorers`): ``math`` (the rule-based
verifier's 1/0 on the final reply) and ``think_answer`` (DeepSeek-R1's format). They compose in
a rubric, e.g. ``[{name: math}, {name: think_answer, weight: 0.1}]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from turngym.agents.trajectory import Trajectory
from turngym.common.math import DEFAULT_FORMATS, DEFAULT_TIMEOUT, VerifierPool, VerifyItem
from turngym.common.math.answers import check_formats
from turngym.common.math.problems import make_problem_source

from .scorers import Score, ScoringContext, register_scorer

#: math-environment kwargs that do not concern the gold answers (so env.kwargs can be reused)
ENV_ONLY_KWARGS = {
    "max_attempts", "feedback", "reward_decay", "instruction", "max_tool_calls", "cpu_seconds",
    "wall_seconds", "memory_mb", "max_output_chars", "render_mode",
}  # fmt: skip


@register_scorer("math")
class MathCorrectness:
    """s = 1 if the final answer of the episode's last reply equals the task's gold answer
    (:func:`turngym.common.math.verify_answer`: extraction, anti-spraying, math-verify), else 0;
    an episode score, with the verifier's reason. Verification runs in a
    :class:`~turngym.common.math.VerifierPool` started on the first call; timeouts score 0 and
    are counted (``timeouts``).

    Args:
        source, split, data_path, hf_name, hf_config, source_options: where the gold answers
            come from, as the math environments' kwargs of the same names (task id -> problem);
            a YAML anchor on ``env.kwargs`` gives both the same values.
        answer_formats: the final-answer forms accepted.
        timeout: seconds per verification.
        num_workers: verifier processes.
    """

    needs = ()

    def __init__(
        self,
        source: str = "arithmetic",
        split: str = "test",
        data_path: str | None = None,
        hf_name: str | None = None,
        hf_config: str | None = None,
        source_options: dict[str, Any] | None = None,
        answer_formats: Sequence[str] = DEFAULT_FORMATS,
        timeout: float = DEFAULT_TIMEOUT,
        num_workers: int = 2,
        **env_only: Any,
    ):
        unknown = sorted(set(env_only) - ENV_ONLY_KWARGS)
        if unknown:
            raise TypeError(
                f"unexpected options {unknown}; the math scorer takes the math environments' "
                f"problem options and ignores {sorted(ENV_ONLY_KWARGS)}"
            )
        self.source = make_problem_source(
            source, split, data_path, hf_name, hf_config, **(source_options or {})
        )
        self.formats = check_formats(tuple(answer_formats))
        self.timeout, self.num_workers = timeout, num_workers
        self._pool: VerifierPool | None = None

    @property
    def timeouts(self) -> int:
        return self._pool.timeouts if self._pool else 0

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        items = []
        for trajectory in trajectories:
            problem = self.source.problem(trajectory.task_id)
            reply = trajectory.turns[-1].response_text if trajectory.turns else ""
            items.append(VerifyItem(reply, problem.answer, problem.checker, problem.numbers,
                                    self.formats))  # fmt: skip
        if self._pool is None:
            self._pool = VerifierPool(self.num_workers, self.timeout)
        verdicts = self._pool.verify(items)
        return [Score(episode=v.score, reason=v.reason) for v in verdicts]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


_ACTION = re.compile(r"^\s*<action>(.*)</action>\s*$", re.DOTALL)
THINK_ANSWER = re.compile(r"\s*<think>(?:(?!</?think>).)+</think>\s*"
                          r"<answer>(?:(?!</?answer>).)+</answer>\s*", re.DOTALL)  # fmt: skip


@register_scorer("think_answer")
class ThinkAnswerFormat:
    """s = 1 if a reply is exactly ``<think>...</think><answer>...</answer>`` (one non-empty
    block of each, in that order, nothing else but white space; turngym's ``<action>`` wrapper
    around it is allowed), else 0: DeepSeek-R1's format reward. By default it scores the last
    reply (the answer) as an episode score; ``every_turn: true`` scores each turn.
    """

    needs = ()

    def __init__(self, every_turn: bool = False):
        self.every_turn = every_turn

    @staticmethod
    def formatted(reply: str) -> bool:
        wrapped = _ACTION.match(reply)
        return bool(THINK_ANSWER.fullmatch(wrapped.group(1) if wrapped else reply))

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        out = []
        for trajectory in trajectories:
            hits = [float(self.formatted(t.response_text)) for t in trajectory.turns]
            if self.every_turn:
                out.append(Score(turns=hits, reason=f"{int(sum(hits))}/{len(hits)} formatted"))
            else:
                last = hits[-1] if hits else 0.0
                out.append(Score(episode=last, reason="formatted" if last else "not formatted"))
        return out
