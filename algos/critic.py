"""A learned state-value function V(s) for PPO with GAE.

The critic is a copy of the policy's transformer body with a scalar head on a hidden state:
V(s_t) for the prompt the policy saw at turn t is read at the prompt's last token (GAE per
turn); with GAE per token, V before each response token is read at the token before it, so one
forward pass over the prompt and the response gives them all (verl's critic reads the same
positions). It is trained by regression on the GAE returns, 1/2 mean (V - R)^2 over the values.

Truncated episodes bootstrap from V(s_T), the final observation's prompt: the trajectory keeps
the final observation and its admissible actions, and :func:`final_prompt_ids` builds the
prompt the policy would have seen next with the agent's own template, over the same history.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from turngym.agents.agent import Agent, AgentInput
from turngym.agents.trajectory import Trajectory

from .advantages import GAEConfig, bootstraps_from_critic, unit_count


class ValueModel(torch.nn.Module):
    """V(s) = w . h(s) + b, with h the body's final hidden state at the last token of s."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.body = copy.deepcopy(policy.get_decoder())
        self.head = torch.nn.Linear(policy.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, prompts: list[list[int]], pad_token_id: int = 0) -> torch.Tensor:
        """V of each whole sequence (read at its last token), [B]."""
        return torch.cat(self.tail_values(prompts, [1] * len(prompts), pad_token_id))

    def tail_values(
        self, contexts: list[list[int]], counts: list[int], pad_token_id: int = 0
    ) -> list[torch.Tensor]:
        """Per row, the values at its last ``counts[i]`` positions (right-padded batch)."""
        width = max(len(c) for c in contexts)
        input_ids = torch.full((len(contexts), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, context in enumerate(contexts):
            input_ids[row, : len(context)] = torch.tensor(context)
            attention_mask[row, : len(context)] = 1
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        values = self.head(hidden).squeeze(-1)
        return [
            values[row, len(context) - count : len(context)]
            for row, (context, count) in enumerate(zip(contexts, counts, strict=True))
        ]


def critic_rows(
    trajectories: list[Trajectory], config: GAEConfig
) -> tuple[list[list[int]], list[int]]:
    """One row per turn (trajectories in order): the token ids the critic reads and how many
    values it gives. Per turn: the prompt, 1 value. Per token: the prompt and the response but
    its last token, one value per loss unit (V before each unit; in ``choose`` mode the one
    unit's value is the prompt's)."""
    contexts, counts = [], []
    for trajectory in trajectories:
        for turn in trajectory.turns:
            units = unit_count(turn) if config.discount_per == "token" else 1
            contexts.append(turn.prompt_ids + turn.response_ids[: max(units - 1, 0)])
            counts.append(units)
    return contexts, counts


def critic_values(
    critic: ValueModel,
    contexts: list[list[int]],
    counts: list[int],
    pad_token_id: int,
    batch_size: int = 256,
) -> list[torch.Tensor]:
    """:meth:`ValueModel.tail_values` of every row, ``batch_size`` rows per forward pass (with
    grad when grad is enabled); a row with no values gives an empty tensor."""
    out = [torch.zeros(0)] * len(contexts)
    rows = [i for i, count in enumerate(counts) if count > 0]
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin : begin + batch_size]
        values = critic.tail_values([contexts[i] for i in chunk], [counts[i] for i in chunk],
                                    pad_token_id)  # fmt: skip
        for i, value in zip(chunk, values, strict=True):
            out[i] = value
    return out


@torch.no_grad()
def step_values(
    critic: ValueModel, trajectories: list[Trajectory], config: GAEConfig, pad_token_id: int
) -> list[np.ndarray]:
    """V at every GAE step, one array per trajectory: per turn, or per loss unit in order."""
    contexts, counts = critic_rows(trajectories, config)
    rows = critic_values(critic, contexts, counts, pad_token_id)
    flat = torch.cat(rows).double().numpy() if rows else np.zeros(0)
    per_trajectory = [sum(counts[i] for i in range(a, b)) for a, b in _turn_spans(trajectories)]
    return np.split(flat, np.cumsum(per_trajectory)[:-1]) if trajectories else []


def _turn_spans(trajectories: list[Trajectory]) -> list[tuple[int, int]]:
    ends = np.cumsum([t.length for t in trajectories]).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


def final_prompt_ids(agent: Agent, trajectory: Trajectory) -> list[int]:
    """The prompt the policy would see after the last turn: the final observation and its
    admissible actions, with every turn as past (the template keeps the last ``history``)."""
    past = [(turn.observation, turn.action) for turn in trajectory.turns]
    step = AgentInput(trajectory.task, trajectory.final_observation,
                      list(trajectory.final_admissible_actions), past)  # fmt: skip
    return agent.encode_prompt(step)


@torch.no_grad()
def final_values(
    critic: ValueModel,
    agent: Agent,
    trajectories: list[Trajectory],
    config: GAEConfig,
    pad_token_id: int,
) -> list[float]:
    """V(s_T) of the final observation for each trajectory that bootstraps
    (:func:`~turngym.algos.advantages.bootstraps_from_critic`); 0.0 for the others."""
    out = [0.0] * len(trajectories)
    cut = [i for i, t in enumerate(trajectories) if bootstraps_from_critic(t, config)]
    prompts = [final_prompt_ids(agent, trajectories[i]) for i in cut]
    values = critic_values(critic, prompts, [1] * len(prompts), pad_token_id)
    for i, value in zip(cut, values, strict=True):
        out[i] = float(value)
    return out


def critic_loss(
    critic: ValueModel,
    contexts: list[list[int]],
    counts: list[int],
    returns: torch.Tensor,
    pad_token_id: int,
) -> torch.Tensor:
    """1/2 mean (V - R)^2 over every value of the rows (``returns`` concatenated in order)."""
    values = critic_values(critic, contexts, counts, pad_token_id, batch_size=len(contexts))
    return 0.5 * (torch.cat(values) - returns).square().mean()
