"""Behaviour cloning (:func:`sft`): L = -(1/U) sum_u log pi(u), over the units u of the
demonstrated turns: response tokens in ``generate`` mode (cross-entropy), the choice
log softmax_k(s_k / T)[chosen] in ``choose`` mode (s_k: mean token log-prob of candidate k).
It steps a :class:`~turngym.algos.engine.TrainEngine` and, given ``output_dir``, saves a
checkpoint that ``turngym eval`` and transformers load."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from turngym.agents.agent import AgentConfig
from turngym.agents.trajectory import Trajectory

from .engine import TrainEngine, save_checkpoint
from .metrics import training_summary
from .pairs import turn_samples
from .samples import StepSample, sample_logprobs


def sft(
    engine: TrainEngine,
    tokenizer: Any,
    data: list[Trajectory] | list[StepSample],
    agent_config: AgentConfig,
    epochs: int = 1,
    batch_size: int = 64,
    seed: int = 0,
    output_dir: str | Path | None = None,
) -> dict[str, float]:
    """Behaviour cloning on demonstrated turns: minimize -(1/U) sum_u log pi(u) per mini-batch
    of ``batch_size`` turns (see the module docstring for the units of each mode), one
    ``engine`` step per mini-batch."""
    samples = [s for t in data for s in turn_samples(t)] if _are_trajectories(data) else data
    model = engine.model
    generator = torch.Generator().manual_seed(seed)
    pad = tokenizer.pad_token_id or 0
    losses, start = [], time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(samples), generator=generator).tolist()
        for begin in range(0, len(order), batch_size):
            batch = [samples[i] for i in order[begin : begin + batch_size]]
            units = sample_logprobs(
                model, batch, agent_config.mode, agent_config.temperature or 1.0, pad
            )
            loss = -torch.cat(units).mean()
            engine.backward_and_step(loss)
            losses.append(loss.item())
    model.eval()
    metrics = training_summary(losses, "sft", len(samples), time.perf_counter() - start)
    if output_dir is not None:
        save_checkpoint(output_dir, engine, tokenizer, agent_config, metrics=metrics)
    return metrics


def _are_trajectories(data: list) -> bool:
    return bool(data) and isinstance(data[0], Trajectory)
