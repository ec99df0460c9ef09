"""The pairwise judge over an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp,
TGI, hosted APIs), for judges too large to run in the trainer's process.

The question is :func:`~turngym.rewards.judge.judge_messages`, asked in both presentation orders
as :class:`~turngym.rewards.judge.LLMJudge` asks it. For each, l = log p("A") - log p("B"):

- from ``logprobs`` / ``top_logprobs`` of the first answer token when the server returns them
  (tokens that strip to the same letter, e.g. "A" and " A", are summed in probability); a letter
  missing from the top k gets the smallest listed log-probability, a bound on its true value;
- else (no log-probabilities, or neither letter among them) from the answer text:
  +``text_log_odds`` if it answers A, -``text_log_odds`` if B, 0 if neither, so two orders
  that agree give a margin of +-``text_log_odds`` and two that disagree (pure position bias)
  a tie.

margin = (l_AB - l_BA) / 2, as for the local judge.

Example:
    >>> judge = ChatCompletionsJudge("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
    >>> judge.compare([(trajectory_1, trajectory_2)])
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from turngym.agents.trajectory import Trajectory
from turngym.common.chat_client import ChatClient

from .judge import Verdict, judge_messages, verdict_from_log_odds

_LETTER = re.compile(r"\b([AB])\b")


class ChatCompletionsJudge:
    """A pairwise judge that posts to ``{base_url}/chat/completions``
    (:class:`~turngym.common.chat_client.ChatClient`).

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the server expects.
        api_key: sent as ``Authorization: Bearer ...`` when given.
        top_logprobs: alternatives asked for at the answer token (OpenAI allows up to 20).
        text_log_odds: |l| for an answer read from text (see the module docstring).
        max_turns, max_chars, tie_threshold: as for :class:`~turngym.rewards.judge.LLMJudge`.
        concurrency: requests in flight at once.
        timeout: seconds per request.
        extra_body: more request fields, e.g. vLLM's ``{"guided_choice": ["A", "B"]}``, which
            makes a server without log-probabilities answer with a letter.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        top_logprobs: int = 20,
        text_log_odds: float = 1.0,
        max_turns: int = 10,
        max_chars: int = 300,
        tie_threshold: float = 0.0,
        concurrency: int = 8,
        timeout: float = 120.0,
        extra_body: dict[str, Any] | None = None,
    ):
        self.client = ChatClient(base_url, model, api_key=api_key, timeout=timeout)
        self.model = model
        self.top_logprobs = top_logprobs
        self.text_log_odds = text_log_odds
        self.max_turns = max_turns
        self.max_chars = max_chars
        self.tie_threshold = tie_threshold
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})

    def check_reachable(self, timeout: float = 10.0) -> None:
        """``ConnectionError`` unless the endpoint answers: a run checks this before any work,
        not after its first evaluation."""
        self.client.check_reachable(timeout)

    def compare(self, pairs: Sequence[tuple[Trajectory, Trajectory]]) -> list[Verdict]:
        questions = []
        for a, b in pairs:
            questions += [(a, b), (b, a)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            log_odds = list(pool.map(lambda q: self.log_odds(*q), questions))
        return [
            verdict_from_log_odds(log_odds[2 * k], log_odds[2 * k + 1], self.tie_threshold)
            for k in range(len(pairs))
        ]

    def log_odds(self, first: Trajectory, second: Trajectory) -> float:
        """l = log p("A") - log p("B") with ``first`` shown as A (see the module docstring)."""
        messages = judge_messages(first, second, self.max_turns, self.max_chars)
        choice = self.post(messages)["choices"][0]
        content = (choice.get("logprobs") or {}).get("content") or []
        top = content[0].get("top_logprobs") if content else None
        if top and any(entry["token"].strip() in ("A", "B") for entry in top):
            return log_odds_from_top_logprobs(top)
        match = _LETTER.search(choice["message"].get("content") or "")
        if match is None:
            return 0.0
        return self.text_log_odds if match.group(1) == "A" else -self.text_log_odds

    def post(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return self.client.chat(
            messages,
            max_tokens=4,
            temperature=0,
            logprobs=True,
            top_logprobs=self.top_logprobs,
            extra_body=self.extra_body or None,
        )


def log_odds_from_top_logprobs(top: list[dict[str, Any]]) -> float:
    """log p("A") - log p("B") from an answer token's ``top_logprobs`` entries."""
    floor = min(entry["logprob"] for entry in top)
    letters: dict[str, list[float]] = {"A": [], "B": []}
    for entry in top:
        letter = entry["token"].strip()
        if letter in letters:
            letters[letter].append(entry["logprob"])
    a, b = (_logsumexp(letters[x]) if letters[x] else floor for x in ("A", "B"))
    return a - b


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
