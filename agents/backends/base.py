"""The interface every inference backend implements (transformers, vLLM, HTTP endpoints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Generation:
    """One sampled continuation: its tokens and their log-probabilities.

    ``logprobs[i]`` is log softmax(z_i / T)[token_i]: z_i the model's raw logits before token i,
    T the sampling temperature (1 when T = 0, greedy decoding). It is the temperature-scaled
    distribution the trainer scores with (``sample_logprobs`` at the agent's temperature), so
    the PPO ratio of an unchanged policy is exactly 1; nucleus (top-p) truncation is not in it.
    """

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" (end-of-turn token) or "length"
    #: per generated token, the ``k`` most likely (token id, log-probability) of the same
    #: distribution, most likely first, when ``generate(..., top_logprobs=k)`` asked for them
    top_logprobs: list[list[tuple[int, float]]] | None = None


class InferenceBackend(Protocol):
    """Token in, token out: prompts are token ids, and so are the results."""

    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_logprobs: int = 0,
    ) -> list[Generation]:
        """Sample one continuation per prompt (log-probabilities as :class:`Generation` says;
        ``top_logprobs`` > 0 also returns that many alternatives per token)."""
        ...

    def score(self, prompts: list[list[int]], continuations: list[list[int]]) -> list[list[float]]:
        """Per-token log-probability of each continuation given its prompt (temperature 1)."""
        ...

    def score_candidates(
        self, prompts: list[list[int]], candidates: list[list[list[int]]]
    ) -> list[list[list[float]]]:
        """Per-token log-probabilities of several candidate continuations of each prompt."""
        ...

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Replace the model's weights with the trainer's (after every update; a no-op for a
        backend that shares the trainer's module)."""
        ...
