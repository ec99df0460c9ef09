"""Step samples: trajectories cut into per-turn training samples, and their log-probabilities.

verl-agent's scheme: each turn is one sample whose prompt is what the policy saw at that turn
(task + recent turns + observation) and whose response is that turn's reply. In ``generate``
mode a sample has one unit per response token; in ``choose`` mode one unit, the choice itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from turngym.agents.scoring import candidate_logprobs, continuation_logprobs
from turngym.agents.trajectory import Trajectory


@dataclass
class StepSample:
    """One turn as a training sample. ``advantage`` is broadcast over its units unless
    ``unit_advantages`` gives one per unit (GAE discounted per token)."""

    prompt_ids: list[int]
    response_ids: list[int]
    old_logprobs: list[float]  # one per unit
    advantage: float
    weight: float = 1.0
    candidate_ids: list[list[int]] | None = None
    chosen_index: int | None = None
    unit_advantages: list[float] | None = None

    def advantage_per_unit(self) -> list[float]:
        """The advantage of each unit."""
        if self.unit_advantages is not None:
            return self.unit_advantages
        return [self.advantage] * len(self.old_logprobs)

    def has_advantage(self) -> bool:
        """Whether some unit has a non-zero advantage (else the policy term adds nothing)."""
        return any(a != 0 for a in self.advantage_per_unit())


def step_samples(
    trajectories: list[Trajectory],
    advantages: list[np.ndarray] | list[list[np.ndarray]],
    step_weighting: str = "uniform",
) -> list[StepSample]:
    """One sample per turn, carrying that turn's advantage: a scalar broadcast over its units,
    or an array with one value per unit."""
    samples = []
    for trajectory, per_turn in zip(trajectories, advantages, strict=True):
        weight = 1.0 / trajectory.length if step_weighting == "inverse_length" else 1.0
        for turn, advantage in zip(trajectory.turns, per_turn, strict=True):
            per_unit, mean = None, float(np.mean(advantage)) if np.size(advantage) else 0.0
            if np.ndim(advantage) > 0:
                per_unit = [float(a) for a in advantage]
                if len(per_unit) != len(turn.response_logprobs):
                    raise ValueError(
                        f"{len(per_unit)} unit advantages for a turn of "
                        f"{len(turn.response_logprobs)} units (episode {trajectory.episode_id})"
                    )
            samples.append(
                StepSample(
                    prompt_ids=turn.prompt_ids,
                    response_ids=turn.response_ids,
                    old_logprobs=turn.response_logprobs,
                    advantage=mean,  # per unit: their mean, for logging
                    weight=weight,
                    candidate_ids=turn.candidate_ids,
                    chosen_index=turn.chosen_index,
                    unit_advantages=per_unit,
                )
            )
    return samples


def sample_logprobs(
    model: torch.nn.Module,
    samples: list[StepSample],
    mode: str,
    temperature: float = 1.0,
    pad_token_id: int = 0,
    with_entropy: bool = False,
) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-unit log pi of each sample under ``model`` (with grad when grad is enabled).

    generate: log_softmax(logits / T) at each response token.
    choose: log softmax_k(s_k / T)[chosen], s_k the mean token log-prob of candidate k.
    With ``with_entropy``, also each unit's policy entropy: of the next-token distribution
    (generate) or of the distribution over candidates (choose).
    """
    temperature = temperature or 1.0
    if mode == "generate":
        return continuation_logprobs(
            model,
            [s.prompt_ids for s in samples],
            [s.response_ids for s in samples],
            temperature=temperature,
            pad_token_id=pad_token_id,
            with_entropy=with_entropy,
        )
    per_sample = candidate_logprobs(
        model, [s.prompt_ids for s in samples], [s.candidate_ids for s in samples], pad_token_id
    )
    logprobs, entropies = [], []
    for s, token_logprobs in zip(samples, per_sample, strict=True):
        scores = torch.stack([values.mean() for values in token_logprobs])
        choice = torch.log_softmax(scores / temperature, dim=0)
        logprobs.append(choice[s.chosen_index : s.chosen_index + 1])
        entropies.append(-(choice.exp() * choice).sum().reshape(1))
    return (logprobs, entropies) if with_entropy else logprobs


def pad_units(
    rows: list[torch.Tensor | list[float]], device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad per-sample unit vectors into ``[batch, units]`` values and a 0/1 mask, on
    ``device`` (the CPU by default; gradients flow back to rows on another device)."""
    tensors = [torch.as_tensor(r, dtype=torch.float32) for r in rows]
    width = max((len(t) for t in tensors), default=0)
    values = torch.zeros(len(tensors), max(width, 1), device=device)
    mask = torch.zeros_like(values)
    for i, t in enumerate(tensors):
        values[i, : len(t)] = t
        mask[i, : len(t)] = 1
    return values, mask


def sample_log_distributions(
    model: torch.nn.Module,
    samples: list[StepSample],
    mode: str,
    temperature: float = 1.0,
    pad_token_id: int = 0,
) -> list[torch.Tensor]:
    """The whole distribution log pi(. | context) at every unit of each sample, [U, K].

    generate: log_softmax(logits / T) over the vocabulary before each response token (U = the
    response length, K = the vocabulary). choose: log softmax_k(s_k / T) over the candidates
    (U = 1, K = the candidates), as :func:`sample_logprobs`. The unit's own log pi is the entry
    at the token (choice) taken.
    """
    temperature = temperature or 1.0
    if mode == "choose":
        per_sample = candidate_logprobs(
            model, [s.prompt_ids for s in samples], [s.candidate_ids for s in samples], pad_token_id
        )
        return [
            torch.log_softmax(torch.stack([v.mean() for v in c]) / temperature, dim=0)[None]
            for c in per_sample
        ]
    rows = [s.prompt_ids + s.response_ids for s in samples]
    input_ids = torch.full((len(rows), max(map(len, rows))), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention_mask[i, : len(row)] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
    return [
        torch.log_softmax(logits[i, len(s.prompt_ids) - 1 : len(row) - 1].float() / temperature, -1)
        for i, (s, row) in enumerate(zip(samples, rows, strict=True))
    ]
