"""The LLM side of dialogue environments: an answerer or a simulated user that is a language
model.

Environments may import only ``turngym.common`` (the layering), so a language model reaches an
environment in one of two ways, both a *chat function* ``messages -> reply text``:

- ``{"base_url": ..., "model": ...}``: an OpenAI-compatible endpoint (``turngym serve``, vLLM, a
  hosted API) through :class:`~turngym.common.chat_client.ChatClient`; it pickles, so it also
  works in the worker processes of ``gymnasium.make_vec`` (the client is made in each);
- any callable, e.g. :func:`turngym.agents.simulators.backend_chat` on a backend from
  ``make_backend`` (a model in this process).

Rule-based answerers remain the default: exact, fast and deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

ChatFunction = Callable[[list[dict[str, str]]], str]


class EndpointChat:
    """A chat function on an OpenAI-compatible endpoint; greedy (temperature 0) by default.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects.
        api_key_env: the environment variable holding the key (none: no key).
        max_tokens: the reply's token budget.
        temperature: sampling temperature (0: greedy, the same reply to the same question).
        timeout: seconds per request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        max_tokens: int = 48,
        temperature: float = 0.0,
        timeout: float = 60.0,
    ):
        self.settings = dict(base_url=base_url, model=model, timeout=timeout)
        self.api_key_env = api_key_env
        self.max_tokens, self.temperature = max_tokens, temperature
        self._client: Any = None

    def __call__(self, messages: list[dict[str, str]]) -> str:
        if self._client is None:
            from turngym.common.chat_client import ChatClient

            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            self._client = ChatClient(api_key=key, **self.settings)
        reply = self._client.chat(
            messages, max_tokens=self.max_tokens, temperature=self.temperature
        )
        return reply["choices"][0]["message"].get("content") or ""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}  # a client is made again in each process


def answerer_chat(
    answerer: str, chat: ChatFunction | Mapping[str, Any] | None
) -> ChatFunction | None:
    """An environment's ``answerer`` / ``chat`` arguments checked: ``None`` for the rules
    (``answerer="rule"``, no chat), the chat function for ``answerer="llm"``."""
    if answerer not in ("rule", "llm"):
        raise ValueError(f"answerer must be 'rule' or 'llm', got {answerer!r}")
    if (answerer == "llm") != (chat is not None):
        raise ValueError("answerer='llm' takes chat= (endpoint settings or a function); "
                         "answerer='rule' takes none")  # fmt: skip
    return make_chat_function(chat) if chat is not None else None


def make_chat_function(spec: ChatFunction | Mapping[str, Any]) -> ChatFunction:
    """A chat function from a callable (as it is) or an endpoint's settings
    (:class:`EndpointChat`'s arguments); a clear error for anything else."""
    if callable(spec):
        return spec
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"base_url", "model", "api_key_env", "max_tokens", "temperature",
                               "timeout"}  # fmt: skip
        if unknown or not {"base_url", "model"} <= set(spec):
            raise ValueError(
                f"chat settings {dict(spec)!r}: need base_url and model; allowed also "
                f"api_key_env, max_tokens, temperature, timeout (unknown: {sorted(unknown)})"
            )
        return EndpointChat(**spec)
    raise ValueError(f"a chat function or endpoint settings expected, got {spec!r}")
