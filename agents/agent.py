"""An LLM agent: model backend + tokenizer + prompt template + action mode.

Two action modes:

- ``generate``: the model writes free text; the action is parsed from ``<action>...</action>``.
  Text without a parsable action goes to the environment as written, which answers as it
  would to any unknown command ("Nothing happens.").
- ``choose``: each admissible action a_k is scored by the mean log-probability of its tokens,
  s_k = (1/|a_k|) sum_t log pi(a_k,t | prompt, a_k,<t); the action is sampled from
  softmax(s / T). The mean (not the sum) keeps an untrained model from preferring short actions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .backends.base import InferenceBackend
from .prompts import SYSTEM_PROMPT_GENERATE, PromptTemplate, parse_action

AGENT_CONFIG_FILE = "turngym_agent.json"


@dataclass
class AgentConfig:
    """How the agent prompts and acts.

    Attributes:
        mode: ``generate`` (free text, ``<action>`` parsing) or ``choose`` (score admissible).
        history: previous turns shown in the prompt.
        list_admissible: list admissible actions in the prompt (default: generate mode only).
        temperature: sampling temperature; 0 means greedy.
        top_p: nucleus sampling (generate mode).
        max_new_tokens: response budget per turn (generate mode).
    """

    mode: Literal["generate", "choose"] = "generate"
    history: int = 0
    list_admissible: bool | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64

    def template(self) -> PromptTemplate:
        generate = self.mode == "generate"
        listed = generate if self.list_admissible is None else self.list_admissible
        system = SYSTEM_PROMPT_GENERATE if generate else ""  # choose: candidates say it all
        return PromptTemplate(history=self.history, list_admissible=listed, system_prompt=system)

    def save(self, folder: str | Path) -> None:
        Path(folder, AGENT_CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> AgentConfig:
        path = Path(folder, AGENT_CONFIG_FILE)
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


@dataclass
class AgentInput:
    """What the agent sees at one step."""

    task: str
    observation: str
    admissible_actions: list[str]
    past: list[tuple[str, str]] = field(default_factory=list)  # (observation, action), oldest first
    expert_action: str | None = None  # the environment's expert move (an expert pool's info)


@dataclass
class Decision:
    """What the agent did at one step (token in, token out)."""

    action: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float]
    action_logprob: float
    response_text: str
    format_ok: bool = True
    candidate_ids: list[list[int]] | None = None
    chosen_index: int | None = None


def choice_logprobs(mean_scores: np.ndarray, temperature: float) -> np.ndarray:
    """log softmax(s / T) over candidates (T = 0 is treated as 1 for the log-probabilities)."""
    scaled = mean_scores / (temperature or 1.0)
    scaled = scaled - scaled.max()
    return scaled - np.log(np.exp(scaled).sum())


class Agent:
    """Turns what environments show into actions, batched over many episodes."""

    def __init__(
        self,
        backend: InferenceBackend,
        tokenizer: Any,
        config: AgentConfig | None = None,
        seed: int | None = None,
    ):
        self.backend = backend
        self.tokenizer = tokenizer
        self.config = config or AgentConfig()
        self.template = self.config.template()
        self.rng = np.random.default_rng(seed)

    def encode_prompt(self, step: AgentInput) -> list[int]:
        messages = self.template.messages(
            step.task, step.observation, step.admissible_actions, step.past
        )
        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer.encode(text, add_special_tokens=False)

    def encode_action(self, action: str) -> list[int]:
        """Tokens of an action as an assistant reply (ends with the end-of-turn token)."""
        return self.tokenizer.encode(action, add_special_tokens=False) + [
            self.tokenizer.eos_token_id
        ]

    def act(self, steps: list[AgentInput]) -> list[Decision]:
        if not steps:
            return []
        prompts = [self.encode_prompt(step) for step in steps]
        if self.config.mode == "choose":
            return self._choose(steps, prompts)
        return self._generate(prompts)

    def demonstrate(self, steps: list[AgentInput]) -> list[Decision]:
        """The expert's moves (``step.expert_action``) as this agent would have answered them:
        ``choose``, the admissible actions as candidates and the expert's index; ``generate``,
        ``<action>...</action>``. The expert is deterministic: its log-probabilities are 0."""
        decisions = []
        for step in steps:
            action = step.expert_action
            if action is None:
                raise ValueError("demonstrate needs info['expert_action']: an expert pool")
            prompt = self.encode_prompt(step)
            if self.config.mode == "choose":
                if action not in step.admissible_actions:
                    raise ValueError(f"the expert's {action!r} is not admissible here")
                candidates = [self.encode_action(a) for a in step.admissible_actions]
                index = step.admissible_actions.index(action)
                decisions.append(
                    Decision(action, prompt, candidates[index], [0.0], 0.0, action,
                             candidate_ids=candidates, chosen_index=index)
                )  # fmt: skip
            else:
                text = f"<action>{action}</action>"
                response = self.encode_action(text)
                decisions.append(
                    Decision(action, prompt, response, [0.0] * len(response), 0.0, text)
                )
        return decisions

    def _generate(self, prompts: list[list[int]]) -> list[Decision]:
        cfg = self.config
        generations = self.backend.generate(
            prompts, cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p
        )
        decisions = []
        for prompt, generation in zip(prompts, generations, strict=True):
            text = self.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
            action = parse_action(text)
            decisions.append(
                Decision(
                    action=action if action is not None else text.strip(),
                    prompt_ids=prompt,
                    response_ids=generation.token_ids,
                    response_logprobs=generation.logprobs,
                    action_logprob=float(sum(generation.logprobs)),
                    response_text=text,
                    format_ok=action is not None,
                )
            )
        return decisions

    def _choose(self, steps: list[AgentInput], prompts: list[list[int]]) -> list[Decision]:
        for step in steps:
            if not step.admissible_actions:
                raise ValueError(
                    "choose mode needs info['admissible_actions'] from the environment; "
                    "use mode='generate' for environments without them"
                )
        candidates = [[self.encode_action(a) for a in s.admissible_actions] for s in steps]
        scores = self.backend.score_candidates(prompts, candidates)
        decisions = []
        for step, prompt, cands, token_scores in zip(
            steps, prompts, candidates, scores, strict=True
        ):
            means = np.array([np.mean(s) for s in token_scores])
            logprobs = choice_logprobs(means, self.config.temperature)
            if self.config.temperature == 0:
                chosen = int(np.argmax(logprobs))
            else:
                chosen = int(self.rng.choice(len(logprobs), p=np.exp(logprobs)))
            decisions.append(
                Decision(
                    action=step.admissible_actions[chosen],
                    prompt_ids=prompt,
                    response_ids=cands[chosen],
                    response_logprobs=[float(logprobs[chosen])],
                    action_logprob=float(logprobs[chosen]),
                    response_text=step.admissible_actions[chosen],
                    candidate_ids=cands,
                    chosen_index=chosen,
                )
            )
        return decisions
