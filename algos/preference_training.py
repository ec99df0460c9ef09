"""Preference optimization on fixed pairs (:func:`train_preference`): mini-batched steps of any
registered preference loss (:mod:`turngym.algos.preference`) against a frozen reference, with
TR-DPO reference updates; online DPO takes one such step per iteration. It steps a
:class:`~turngym.algos.engine.TrainEngine` and, given ``output_dir``, saves a checkpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from turngym.agents.agent import AgentConfig

from .engine import TrainEngine, save_checkpoint
from .metrics import training_summary
from .pairs import PreferencePair
from .preference_batches import (
    SEQUENTIAL_KL_LOSSES,
    UNPAIRED_LOSSES,
    loss_batch,
    reference_logprobs,
    stacked_sides,
    wpo_log_weights,
)
from .registry import get_preference_loss
from .wpo import pair_weights


def train_preference(
    engine: TrainEngine,
    tokenizer: Any,
    pairs: list[PreferencePair],
    agent_config: AgentConfig,
    loss: str = "dmpo",
    loss_config: BaseModel | None = None,
    reference: torch.nn.Module | None = None,
    shape: str = "step",
    epochs: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    output_dir: str | Path | None = None,
    reference_sync_steps: int | None = None,
    reference_alpha: float = 1.0,
    wpo_alignment: str | None = None,
) -> dict[str, float]:
    """Mini-batched steps on mean_i L(y_w^i, y_l^i) for the registered loss named ``loss``.

    ``engine`` owns the policy and its optimizer (its state carries over between calls: online
    DPO steps the same engine every iteration). ``reference`` defaults to
    ``engine.frozen_copy()`` as the policy is on entry; its log-probs are computed once.
    ``loss_config`` is that loss's options model (e.g. ``DMPOConfig``); each mini-batch is built
    by :func:`loss_batch`.

    TR-DPO (Gorbatovski et al., 2024): with ``reference_sync_steps`` = tau, every tau optimizer
    steps the reference moves towards the policy, theta_ref <- alpha * theta + (1 - alpha) *
    theta_ref (``reference_alpha``; alpha = 1 is the hard update), and reference log-probs are
    then computed per mini-batch.

    WPO (:mod:`turngym.algos.wpo`): with ``wpo_alignment`` (``sampled``, ``greedy`` or
    ``none``), each pair's loss is weighed by min(1, w(y_w) w(y_l)) under the policy as it is
    at that step (detached); the step minimizes mean_i w_i L_i. Pairwise losses only.
    """
    loss_fn = get_preference_loss(loss)
    if not pairs:
        raise ValueError("pairs is empty: nothing to train on")
    if wpo_alignment is not None and loss in UNPAIRED_LOSSES:
        raise ValueError(f"WPO weighs pairs; {loss} reads them unpaired (use a pairwise loss)")
    if not 0 < reference_alpha <= 1:
        raise ValueError(f"reference_alpha must be in (0, 1], got {reference_alpha}")
    model = engine.model
    if reference is None:
        reference = engine.frozen_copy()
    reference.eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    # reference log-probs once for all epochs, unless the reference moves (TR-DPO) or the loss
    # reads whole distributions (TDPO): then loss_batch scores them per mini-batch
    ref = None
    if not reference_sync_steps and loss not in SEQUENTIAL_KL_LOSSES:
        ref = reference_logprobs(reference, tokenizer, pairs, agent_config, shape)
    steps = 0
    losses, accuracies, margins, weights = [], [], [], []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for begin in range(0, len(order), batch_size):
            index = order[begin : begin + batch_size]
            chunk = [pairs[i] for i in index]
            batch = loss_batch(
                loss,
                model,
                reference,
                tokenizer,
                chunk,
                agent_config,
                shape,
                None if ref is None else [ref[i] for i in index],
            )
            per_example, metrics = loss_fn(batch, loss_config)
            if wpo_alignment is not None:
                log_w = wpo_log_weights(model, tokenizer, stacked_sides(chunk), agent_config,
                                        shape, wpo_alignment)  # fmt: skip
                pair_weight = pair_weights(log_w[: len(chunk)], log_w[len(chunk) :])
                per_example = per_example * pair_weight
                weights.append(pair_weight.mean().item())
            engine.backward_and_step(per_example.mean())
            steps += 1
            if reference_sync_steps and steps % reference_sync_steps == 0:
                soft_update(reference, model, reference_alpha)
            chosen, rejected = _side_rewards(metrics, len(chunk))
            losses.append(per_example.mean().item())
            accuracies.append((chosen > rejected).float().mean().item())
            margins.append((chosen - rejected).mean().item())
    model.eval()
    summary = training_summary(losses, loss, len(pairs), time.perf_counter() - start)
    summary[f"{loss}/reward_accuracy_last"] = accuracies[-1]
    summary[f"{loss}/reward_margin_last"] = margins[-1]
    if weights:
        summary["wpo/pair_weight_mean"] = sum(weights) / len(weights)
    if output_dir is not None:
        save_checkpoint(output_dir, engine, tokenizer, agent_config, metrics=summary)
    return summary


@torch.no_grad()
def soft_update(target: torch.nn.Module, source: torch.nn.Module, alpha: float) -> None:
    """target <- alpha * source + (1 - alpha) * target, parameter by parameter."""
    for target_param, source_param in zip(target.parameters(), source.parameters(), strict=True):
        target_param.lerp_(source_param, alpha)


def _side_rewards(metrics: dict, pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Implied rewards of the chosen and of the rejected sides (KTO: its first B rows, then B)."""
    if "chosen_rewards" in metrics:
        return metrics["chosen_rewards"], metrics["rejected_rewards"]
    return metrics["rewards"][:pairs], metrics["rewards"][pairs:]
