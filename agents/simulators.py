"""Chat functions on an inference backend in this process, for the LLM answerers and simulated
users of dialogue environments (which may not import agents: they take a plain callable,
``messages -> reply text``; see :mod:`turngym.envs.dialogue.simulated_user`).

Example:
    >>> backend = make_backend(name_or_path="Qwen/Qwen2.5-0.5B-Instruct")
    >>> env = gym.make("turngym/TwentyQuestions-v0", answerer="llm", chat=BackendChat(backend))
"""

from __future__ import annotations

from typing import Any


class BackendChat:
    """``messages -> reply`` with the backend's model and its tokenizer's chat template.

    Args:
        backend: a backend from :func:`~turngym.agents.backends.make_backend` (with
            ``tokenizer``).
        max_new_tokens: the reply's token budget.
        temperature: 0 (default) decodes greedily: the same question gets the same answer.
    """

    def __init__(self, backend: Any, max_new_tokens: int = 48, temperature: float = 0.0):
        self.backend, self.tokenizer = backend, backend.tokenizer
        self.max_new_tokens, self.temperature = max_new_tokens, temperature

    def __call__(self, messages: list[dict[str, str]]) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        prompt = self.tokenizer.encode(text, add_special_tokens=False)
        generation = self.backend.generate(
            [prompt], max_new_tokens=self.max_new_tokens, temperature=self.temperature
        )[0]
        return self.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
