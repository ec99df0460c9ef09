"""Pairwise judges: which of two trajectories of the same task did better.

A judge takes pairs (y_A, y_B) and returns one :class:`Verdict` per pair, whose ``margin`` is > 0
when A is better, < 0 when B is, and whose ``winner`` is ``None`` for a tie. Two kinds share that
interface (:class:`PairwiseJudge`), so an algorithm runs with either:

- :class:`LLMJudge`: a language model reads the task and both trajectories and is asked which
  completed the task better. No text is generated or parsed: the verdict is the log-probability
  it gives to the answer tokens "A" and "B". Both presentation orders are scored, so a
  preference for whichever trajectory is shown first (position bias) cancels out.
- :class:`~turngym.rewards.chat_judge.ChatCompletionsJudge`: the same question put to an
  OpenAI-compatible HTTP endpoint (answer log-probabilities when it returns them, else the
  answer's letter).
- :class:`RuleJudge` (:mod:`turngym.rewards.rules`): the environment's outcome decides.

Example:
    >>> judge = LLMJudge.from_pretrained("Qwen/Qwen2.5-1.5B-Instruct")
    >>> (verdict,) = judge.compare([(trajectory_1, trajectory_2)])
    >>> verdict.winner, verdict.margin
    ('A', 2.31)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from turngym.agents.backends import InferenceBackend, load_pretrained, make_backend
from turngym.agents.trajectory import Trajectory

JUDGE_SYSTEM_PROMPT = (
    "You are an impartial judge. An agent attempted the same task twice in a text environment. "
    "Compare the two attempts."
)
JUDGE_QUESTION = (
    "Which trajectory completed the task better? Prefer the one that achieved the goal; if both "
    "or neither did, prefer the one that made more progress with fewer wasted steps. "
    "Answer with one letter: A or B."
)


@dataclass(frozen=True)
class Verdict:
    """The judgement of one pair (A, B).

    Attributes:
        margin: log-odds that A is better than B (> 0: A, < 0: B); for a rule, +1, -1 or 0.
        winner: ``"A"``, ``"B"``, or ``None`` when the judge calls it a tie.
        log_odds: for an LLM judge, (l_AB, l_BA): log p("A") - log p("B") with A shown first,
            and with B shown first; ``None`` for a rule.
    """

    margin: float
    winner: Literal["A", "B"] | None
    log_odds: tuple[float, float] | None = None

    @property
    def position_bias(self) -> float | None:
        """(l_AB + l_BA) / 2: how much the judge prefers whichever is shown first."""
        return None if self.log_odds is None else 0.5 * (self.log_odds[0] + self.log_odds[1])


def verdict_from_margin(
    margin: float, tie_threshold: float = 0.0, log_odds: tuple[float, float] | None = None
) -> Verdict:
    """A tie when |margin| <= ``tie_threshold`` (so a margin of exactly 0 always ties)."""
    winner = None if abs(margin) <= tie_threshold else ("A" if margin > 0 else "B")
    return Verdict(margin, winner, log_odds)


def verdict_from_log_odds(l_ab: float, l_ba: float, tie_threshold: float = 0.0) -> Verdict:
    """margin = (l_AB - l_BA) / 2 from the log-odds "first shown is better" in both orders."""
    return verdict_from_margin(0.5 * (l_ab - l_ba), tie_threshold, (l_ab, l_ba))


class PairwiseJudge(Protocol):
    """Anything that compares pairs of trajectories of the same task."""

    def compare(self, pairs: Sequence[tuple[Trajectory, Trajectory]]) -> list[Verdict]:
        """One verdict per (A, B) pair, in order."""
        ...


# -- rendering -------------------------------------------------------------------------------------
def clip_text(text: str, max_chars: int) -> str:
    """``text`` stripped and cut to at most ``max_chars`` characters, marked with "..."."""
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max(max_chars - 3, 0)].rstrip() + "..."


def render_trajectory(trajectory: Trajectory, max_turns: int = 10, max_chars: int = 300) -> str:
    """The turns as numbered observation/action lines, then the final observation.

    A trajectory longer than ``max_turns`` keeps its first ``max_turns // 2`` and its last
    ``max_turns - max_turns // 2`` turns, with a line saying how many were left out (the end
    shows the outcome, the start the approach). Each observation and action is cut to
    ``max_chars`` characters.
    """
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, got {max_turns}")
    turns = list(enumerate(trajectory.turns, start=1))
    head = max_turns // 2
    omitted = max(len(turns) - max_turns, 0)
    shown = turns if not omitted else turns[:head] + turns[len(turns) - (max_turns - head) :]
    lines = []
    for number, turn in shown:
        if omitted and number == head + 1 + omitted:
            lines.append(f"({omitted} steps omitted)")
        lines.append(f"Step {number} observation: {clip_text(turn.observation, max_chars)}")
        lines.append(f"Step {number} action: {clip_text(turn.action, max_chars)}")
    if trajectory.final_observation:
        lines.append(f"Final observation: {clip_text(trajectory.final_observation, max_chars)}")
    lines.append(f"Steps taken: {trajectory.length}")
    return "\n".join(lines)


def judge_messages(
    first: Trajectory, second: Trajectory, max_turns: int = 10, max_chars: int = 300
) -> list[dict[str, str]]:
    """Chat messages that show the task, ``first`` as A and ``second`` as B, and ask which won."""
    task = first.task or second.task
    user = "\n\n".join(
        [
            f"Task: {clip_text(task, max_chars)}" if task else "Task: (not stated)",
            "Trajectory A:\n" + render_trajectory(first, max_turns, max_chars),
            "Trajectory B:\n" + render_trajectory(second, max_turns, max_chars),
            JUDGE_QUESTION,
        ]
    )
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


# -- the LLM judge ---------------------------------------------------------------------------------
class LLMJudge:
    """A pairwise judge from answer-token log-probabilities, in both presentation orders.

    With A shown first, l_AB = log p("A" | x_AB) - log p("B" | x_AB); with B shown first,
    l_BA = log p("A" | x_BA) - log p("B" | x_BA), where the letter now names B. A judge with a
    position bias b adds b to both, so

        margin = (l_AB - l_BA) / 2

    is the bias-free log-odds that A is better, and swapping A and B flips its sign exactly.
    |margin| <= ``tie_threshold`` is a tie. A multi-token answer scores the sum of its tokens.

    Args:
        backend: any :class:`~turngym.agents.backends.InferenceBackend` (its ``score_candidates``
            is the only method used).
        tokenizer: the judge model's tokenizer; its chat template frames the prompt (a tokenizer
            without one gets the system and user text followed by ``"\\nAnswer: "``).
        max_turns, max_chars: truncation of each trajectory (:func:`render_trajectory`).
        max_prompt_tokens: if a prompt is longer, it is rendered again with half the turns
            (down to 2), then half the characters (down to 40), until it fits; None: no limit.
            :meth:`from_pretrained` sets it from the model's context length.
        tie_threshold: the |margin| at or below which the verdict is a tie.
        answers: the two answer strings, scored right after the assistant header.
    """

    def __init__(
        self,
        backend: InferenceBackend,
        tokenizer: Any,
        max_turns: int = 10,
        max_chars: int = 300,
        max_prompt_tokens: int | None = None,
        tie_threshold: float = 0.0,
        answers: tuple[str, str] = ("A", "B"),
    ):
        self.backend = backend
        self.tokenizer = tokenizer
        self.max_turns = max_turns
        self.max_chars = max_chars
        self.max_prompt_tokens = max_prompt_tokens
        self.tie_threshold = tie_threshold
        self.answer_ids = [tokenizer.encode(a, add_special_tokens=False) for a in answers]
        if not all(self.answer_ids) or self.answer_ids[0] == self.answer_ids[1]:
            raise ValueError(f"answers={answers!r} must encode to two different, non-empty ids")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **kwargs: Any) -> LLMJudge:
        """A judge on a Hugging Face model name or local folder (transformers backend)."""
        model, tokenizer = load_pretrained(name_or_path)
        return cls.from_model(model.eval(), tokenizer, **kwargs)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> LLMJudge:
        """A judge on a loaded ``transformers`` causal LM (e.g. a frozen copy of the policy);
        ``max_prompt_tokens`` defaults to its context length."""
        context = getattr(model.config, "max_position_embeddings", None)
        if context and "max_prompt_tokens" not in kwargs:
            kwargs["max_prompt_tokens"] = context - 8  # room for the answer tokens
        return cls(make_backend(model=model, tokenizer=tokenizer), tokenizer, **kwargs)

    def prompt_ids(self, first: Trajectory, second: Trajectory) -> list[int]:
        """Token ids of the question with ``first`` shown as A, up to where the answer goes."""
        max_turns, max_chars = self.max_turns, self.max_chars
        while True:
            ids = self._encode(judge_messages(first, second, max_turns, max_chars))
            if self.max_prompt_tokens is None or len(ids) <= self.max_prompt_tokens:
                return ids
            if max_turns > 2:
                max_turns = max(max_turns // 2, 2)
            elif max_chars > 40:
                max_chars = max(max_chars // 2, 40)
            else:
                raise ValueError(
                    f"the judge prompt needs {len(ids)} tokens even with 2 turns of 40 characters "
                    f"per trajectory; max_prompt_tokens={self.max_prompt_tokens} is too small"
                )

    def _encode(self, messages: list[dict[str, str]]) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        else:
            text = "\n\n".join(m["content"] for m in messages) + "\nAnswer: "
        return self.tokenizer.encode(text, add_special_tokens=False)

    def answer_log_odds(self, prompts: list[list[int]]) -> list[float]:
        """log p("A" | x) - log p("B" | x) for each prompt, in one batched scoring call."""
        scores = self.backend.score_candidates(prompts, [self.answer_ids] * len(prompts))
        return [sum(a) - sum(b) for a, b in scores]

    def compare(self, pairs: Sequence[tuple[Trajectory, Trajectory]]) -> list[Verdict]:
        prompts = []
        for a, b in pairs:
            prompts += [self.prompt_ids(a, b), self.prompt_ids(b, a)]
        # score in a canonical order so that a pair and its swap see the very same batch
        order = sorted(range(len(prompts)), key=prompts.__getitem__)
        scored = self.answer_log_odds([prompts[i] for i in order])
        log_odds = [0.0] * len(prompts)
        for position, i in enumerate(order):
            log_odds[i] = scored[position]
        return [
            verdict_from_log_odds(log_odds[2 * k], log_odds[2 * k + 1], self.tie_threshold)
            for k in range(len(pairs))
        ]
