"""A learned state-value function V(s) for PPO with GAE.

The critic is a copy of the policy's transformer body with a scalar head on the hidden state of
the prompt's last token: V(s_t) for the prompt the policy saw at turn t. It is trained by
regression on the GAE returns, 1/2 (V(s_t) - R_t)^2.
"""

from __future__ import annotations

import copy

import torch

from turngym.agents.trajectory import Trajectory


class ValueModel(torch.nn.Module):
    """V(s) = w . h_last(s) + b, with h_last the body's final hidden state at the last token."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.body = copy.deepcopy(policy.get_decoder())
        self.head = torch.nn.Linear(policy.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, prompts: list[list[int]], pad_token_id: int = 0) -> torch.Tensor:
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, prompt in enumerate(prompts):
            input_ids[row, : len(prompt)] = torch.tensor(prompt)
            attention_mask[row, : len(prompt)] = 1
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = hidden[torch.arange(len(prompts)), attention_mask.sum(dim=1) - 1]
        return self.head(last).squeeze(-1)


@torch.no_grad()
def turn_values(
    critic: ValueModel, trajectories: list[Trajectory], pad_token_id: int, batch_size: int = 256
) -> list[torch.Tensor]:
    """V(s_t) for every turn, one tensor per trajectory."""
    prompts = [turn.prompt_ids for t in trajectories for turn in t.turns]
    chunks = [
        critic(prompts[i : i + batch_size], pad_token_id)
        for i in range(0, len(prompts), batch_size)
    ]
    values = torch.cat(chunks) if chunks else torch.zeros(0)
    return list(torch.split(values, [t.length for t in trajectories]))


def critic_loss(critic: ValueModel, prompts: list[list[int]], returns: torch.Tensor,
                pad_token_id: int) -> torch.Tensor:  # fmt: skip
    """1/2 mean (V(s) - R)^2."""
    return 0.5 * (critic(prompts, pad_token_id) - returns).square().mean()
