"""``turngym/Math-v0`` and ``turngym/MathMultiTurn-v0``: math questions answered in text and
scored by the rule-based verifier (:mod:`turngym.common.math`).

The problems come from GSM8K, MATH-500 (files), a file of your own, the Hugging Face hub, or a
generator (``source=``; see :func:`~turngym.common.math.problems.make_problem_source`). The agent
answers with a final slot (``<answer>...</answer>``, ``\\boxed{}`` or ``#### N``; the
``answer_formats``); the verifier decides, and ``won`` is "verified correct", so success rates and
pass@k need nothing math-specific. A reply without a final answer is an invalid action (the
environment asks for one and nothing changes); several different answers score 0.

- ``Math-v0``: one question, one answer; reward 1 or 0; the episode ends at the answer.
- ``MathMultiTurn-v0``: after a wrong answer the environment says so (``feedback``:
  ``incorrect``; ``direction``: too high / too low for a numeric gold; ``hint``: the first step
  of the reference solution) and the agent tries again, up to ``max_attempts``; a correct answer
  at attempt j (from 0) earns ``reward_decay ** j``.

``expert_action()`` is the problem's worked solution (generators: ``<think>steps</think><answer>N
</answer>``; datasets: the reference solution, whose final answer the verifier accepts), for
behaviour cloning; ``corpus_texts()`` gives the tiny model's tokenizer the text the agent writes.
"""

from __future__ import annotations

from typing import Any

from turngym.common.math import DEFAULT_TIMEOUT, VerifyItem, extract_answer, verify_anywhere
from turngym.common.math.answers import check_formats
from turngym.common.math.problems import Problem, make_problem_source

from ..core import TextEnv

INSTRUCTION = (
    "Think step by step inside <think>...</think>, then give only the final answer inside "
    "<answer>...</answer>."
)
#: what the agent is shown as its possible moves: the answer's form (math has no finite set)
ANSWER_TEMPLATE = "<think>...</think><answer>...</answer>"
NO_ANSWER = "No final answer found. Give your final answer inside <answer>...</answer>."
FEEDBACK_MODES = ("incorrect", "direction", "hint")


class MathEnv(TextEnv):
    """One math question, one verified answer (see the module docstring).

    Args:
        source: ``arithmetic``, ``linear``, ``countdown`` (generators), ``gsm8k``, ``math500``
            (the shared data's files, ``split``), or any name with ``data_path`` / ``hf_name``.
        split: the file split of ``gsm8k`` / ``math500`` (``train`` or ``test``).
        data_path: a GSM8K- or MATH-style JSONL/Parquet file of your own.
        hf_name, hf_config: a Hugging Face dataset by name (needs ``datasets`` and a network).
        source_options: a generator's difficulty knobs (``digits``, ``terms``, ...).
        answer_formats: the final-answer forms accepted, in order of preference.
        instruction: appended to every question.
        timeout: seconds one verification may take (then it scores 0).
    """

    invalid_action_answer = NO_ANSWER
    max_attempts = 1

    def __init__(
        self,
        source: str = "arithmetic",
        split: str = "test",
        data_path: str | None = None,
        hf_name: str | None = None,
        hf_config: str | None = None,
        source_options: dict[str, Any] | None = None,
        answer_formats: tuple[str, ...] | list[str] = ("answer_tag", "boxed", "hash"),
        instruction: str = INSTRUCTION,
        timeout: float = DEFAULT_TIMEOUT,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        self.source = make_problem_source(
            source, split, data_path, hf_name, hf_config, **(source_options or {})
        )
        self.num_tasks = self.source.num_tasks
        self.answer_formats = check_formats(tuple(answer_formats))
        self.instruction, self.timeout = instruction, timeout
        self.problem: Problem | None = None
        self.attempts, self.solved, self.last_verdict = 0, False, None

    # -- the episode -------------------------------------------------------------------------
    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.problem = self.source.problem(task_id)
        self.attempts, self.solved, self.last_verdict = 0, False, None
        observation = f"{self.problem.question}\n\n{self.instruction}".strip()
        return observation, {"task_type": self.problem.kind, **self.state_info()}

    @property
    def done(self) -> bool:
        return self.solved or self.attempts >= self.max_attempts

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.done or extract_answer(action, self.answer_formats).reason in (
            "no final answer", "empty answer_tag", "empty boxed", "empty hash",
        ):  # fmt: skip
            observation, info = self._invalid_answer()
            return observation, 0.0, False, info
        verdict = self.verify(action)
        attempt = self.attempts
        self.attempts += 1
        self.solved, self.last_verdict = verdict.correct, verdict
        reward = self.reward_for(attempt) if verdict.correct else 0.0
        info = {
            "verdict": verdict.reason,
            "answer": verdict.answer,
            "timed_out": verdict.timed_out,
            **self.state_info(),
        }
        return self.feedback(verdict), reward, self.done, info

    def verify(self, response: str):  # noqa: ANN201 (a Verdict)
        problem = self.problem
        item = VerifyItem(response, problem.answer, problem.checker, problem.numbers,
                          self.answer_formats)  # fmt: skip
        return verify_anywhere(item, self.timeout)

    def reward_for(self, attempt: int) -> float:
        return 1.0

    def feedback(self, verdict) -> str:  # noqa: ANN001
        return "Correct." if verdict.correct else f"Incorrect ({verdict.reason})."

    def _invalid_answer(self) -> tuple[str, dict[str, Any]]:
        return self.invalid_action_answer, {"invalid_action": True, **self.state_info()}

    # -- info ---------------------------------------------------------------------------------
    def state_info(self) -> dict[str, Any]:
        if self.problem is None:
            return {}
        status = "solved" if self.solved else ("failed" if self.done else "open")
        return {
            "task": self.problem.question,
            "admissible_actions": [ANSWER_TEMPLATE],
            "state_key": f"{self.task_id}|attempts={self.attempts}|{status}",
            "won": self.solved,
            "attempts": self.attempts,
        }

    # -- the expert and the tokenizer's corpus ------------------------------------------------
    def expert_action(self) -> str:
        """The worked solution of the current problem (its final answer verifies)."""
        if self.problem is None or self.done:
            raise RuntimeError("expert_action needs a reset episode that is not over")
        solution = self.problem.solution
        if self.problem.checker == "math" and "#### " in solution:  # GSM8K: keep its form
            return solution
        return solution or f"<answer>{self.problem.answer}</answer>"

    def corpus_texts(self) -> list[str]:
        """Text the agent writes here (the worked solution), for training a tokenizer."""
        return [self.problem.solution, ANSWER_TEMPLATE] if self.problem else []


class MathMultiTurnEnv(MathEnv):
    """Math with retries: feedback after a wrong answer, up to ``max_attempts`` answers; a
    correct answer at attempt j (from 0) earns ``reward_decay ** j``.

    Args:
        max_attempts: answers allowed (k).
        feedback: ``incorrect`` (just that), ``direction`` (too high / too low when the gold is
            a number, else incorrect) or ``hint`` (also the first step of the reference
            solution).
        reward_decay: gamma in reward = gamma ** attempt.
        (the rest as :class:`MathEnv`)
    """

    def __init__(
        self,
        max_attempts: int = 3,
        feedback: str = "incorrect",
        reward_decay: float = 0.5,
        **kwargs: Any,
    ):
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if feedback not in FEEDBACK_MODES:
            raise ValueError(f"feedback={feedback!r}; choose one of {FEEDBACK_MODES}")
        if not 0 <= reward_decay <= 1:
            raise ValueError(f"reward_decay must be in [0, 1], got {reward_decay}")
        super().__init__(**kwargs)
        self.max_attempts, self.feedback_mode, self.reward_decay = (
            max_attempts, feedback, reward_decay,
        )  # fmt: skip

    def reward_for(self, attempt: int) -> float:
        return self.reward_decay**attempt

    def feedback(self, verdict) -> str:  # noqa: ANN001
        if verdict.correct:
            return "Correct."
        left = self.max_attempts - self.attempts
        tail = f" {left} attempt{'s' if left != 1 else ''} left." if left else " No attempts left."
        text = "Incorrect."
        if self.feedback_mode == "direction":
            text = _direction(verdict.answer, self.problem.answer) or text
        elif self.feedback_mode == "hint":
            hint = first_step(self.problem.solution)
            text = f"Incorrect. Hint: {hint}" if hint else text
        return text + tail


def _direction(answer: str | None, gold: str) -> str | None:
    from turngym.common.math.answers import normalize_answer

    try:
        given, wanted = float(normalize_answer(answer or "")), float(normalize_answer(gold))
    except ValueError:
        return None
    if given == wanted:
        return None
    return "Incorrect: too high." if given > wanted else "Incorrect: too low."


def first_step(solution: str) -> str:
    """The first step of a worked solution: the first think step, or the first line or
    sentence of a reference solution (GSM8K's ``<<...>>`` calculator notes removed)."""
    import re

    if "<think>" in solution:
        inner = solution.split("<think>", 1)[1].split("</think>", 1)[0]
        return inner.split(", ")[0].strip()
    text = re.sub(r"<<[^>]*>>", "", solution.split("####")[0]).strip()
    line = text.splitlines()[0] if text else ""
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return sentence.strip()
