"""``turngym reward-model CONFIG [overrides]``: train a Bradley-Terry reward model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def reward_model(
    config: Annotated[Path, typer.Argument(help="YAML reward-model config")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value ...")] = None,
) -> None:
    """Train a reward model (a scalar head on a causal LM) on preference pairs from a JSONL file
    or judged rollouts; saves a Hugging Face folder the reward_model scorer loads."""
    from turngym.config.reward_model import RewardModelRunConfig
    from turngym.config.run import load_config

    run = load_config(config, overrides or [], RewardModelRunConfig)
    from turngym.algos.reward_model_run import run_reward_model

    typer.echo(f"reward model on {run.pairs.source} pairs -> {run.train.output_dir}")
    result = run_reward_model(run)
    accuracy, pairs = result["held_out_accuracy"], result["pairs"]
    typer.echo(
        f"held-out pairwise accuracy on {pairs['held_out']} pairs: {accuracy['before']:.1%} "
        f"before -> {accuracy['after']:.1%} after training on {pairs['train']} pairs\n"
        f"reward model: {result['reward_model']}"
    )
