"""An agent whose model sits behind an OpenAI-compatible endpoint (vLLM, SGLang, ``turngym
serve``, a hosted API), for evaluating models turngym does not hold.

Same prompts and ``<action>`` parsing as :class:`~turngym.agents.agent.Agent` in ``generate``
mode; the steps of a batch go to the server as concurrent requests (a batching server runs them
together). The server owns the tokenizer, so the turns hold text only: no token ids, no
log-probabilities; such trajectories are for evaluation and viewing, not training.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from turngym.common.chat_client import ChatClient

from .agent import AgentConfig, AgentInput, Decision
from .prompts import parse_action


class EndpointAgent:
    """``act`` for a model behind ``client`` (a :class:`ChatClient`); ``generate`` mode only.

    Args:
        client: the endpoint and model name.
        config: prompt and sampling settings (``temperature``, ``top_p``, ``max_new_tokens``).
        seed: sent with each request (``seed + request number``) where the server honours it.
        concurrency: requests in flight at once.
    """

    def __init__(
        self,
        client: ChatClient,
        config: AgentConfig | None = None,
        seed: int | None = None,
        concurrency: int = 16,
    ):
        self.config = config or AgentConfig()
        if self.config.mode != "generate":
            raise ValueError(
                f"an endpoint agent acts in generate mode, got mode={self.config.mode!r}: "
                "choose mode scores each admissible action with the model's own token "
                "log-probabilities, which a chat endpoint does not give"
            )
        self.client = client
        self.template = self.config.template()
        self.seed = seed
        self.concurrency = concurrency
        self._requests = 0

    def act(self, steps: list[AgentInput]) -> list[Decision]:
        if not steps:
            return []
        messages = [
            self.template.messages(s.task, s.observation, s.admissible_actions, s.past)
            for s in steps
        ]
        seeds = [
            None if self.seed is None else self.seed + self._requests + i for i in range(len(steps))
        ]
        self._requests += len(steps)
        with ThreadPoolExecutor(min(self.concurrency, len(steps))) as pool:
            texts = list(pool.map(self._reply, messages, seeds))
        decisions = []
        for text in texts:
            action = parse_action(text)
            decisions.append(
                Decision(
                    action=action if action is not None else text.strip(),
                    prompt_ids=[],
                    response_ids=[],
                    response_logprobs=[],
                    action_logprob=0.0,
                    response_text=text,
                    format_ok=action is not None,
                )
            )
        return decisions

    def _reply(self, messages: list[dict[str, str]], seed: int | None) -> str:
        cfg = self.config
        params: dict[str, Any] = {
            "max_tokens": cfg.max_new_tokens,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
        }
        if seed is not None:
            params["seed"] = seed
        import openai

        url = self.client.base_url
        try:
            reply = self.client.chat(messages, **params)
        except openai.APIConnectionError as error:
            raise ConnectionError(
                f"the endpoint {url} stopped answering: {error.__cause__ or error}"
            ) from None
        except openai.APIStatusError as error:
            raise ValueError(
                f"the endpoint {url} refused a request with {error.status_code}: {error.message}"
            ) from None
        return reply["choices"][0]["message"]["content"] or ""
