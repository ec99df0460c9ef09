"""Training metrics to a JSONL file, TensorBoard and, when installed and configured, Weights &
Biases (``pip install wandb`` and set ``WANDB_PROJECT``; ``WANDB_MODE=offline`` works too)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from turngym.agents.trajectory import Trajectory

from .advantages import step_group_size_histogram


class MetricsLogger:
    """Appends one JSON object per ``log`` call to ``metrics.jsonl``; mirrors scalars to TB.

    Rows are strict JSON: a value that is not a finite number (NaN, inf) is written as null.

    Args:
        output_dir: the run folder.
        tensorboard: also write TensorBoard scalars under ``output_dir/tensorboard``.
        resume_after: the iteration of the checkpoint a run resumes from. Rows an interrupted
            run logged after it are dropped from ``metrics.jsonl``, and TensorBoard is told to
            purge its events after that step, so each iteration keeps exactly one row.
    """

    def __init__(
        self, output_dir: str | Path, tensorboard: bool = True, resume_after: int | None = None
    ):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "metrics.jsonl"
        if resume_after is not None and self.path.exists():
            kept = [row for row in read_metrics(self.path) if row["iteration"] <= resume_after]
            self.path.write_text("".join(_json_line(row) for row in kept), encoding="utf-8")
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_after is None else resume_after + 1
            self._writer = SummaryWriter(str(self.output_dir / "tensorboard"), purge_step=purge)
        self._wandb = start_wandb(self.output_dir)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"iteration": step, **metrics}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(_json_line(row))
        scalars = {key: value for key, value in metrics.items()
                   if isinstance(value, (int, float)) and math.isfinite(value)}  # fmt: skip
        if self._writer is not None:
            for key, value in scalars.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()
        if self._wandb is not None:
            self._wandb.log({**scalars, "iteration": step})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def start_wandb(output_dir: Path) -> Any:
    """A Weights & Biases run named after the run folder when ``wandb`` is installed and
    ``WANDB_PROJECT`` is set (wandb reads its other settings, e.g. ``WANDB_MODE``, itself);
    otherwise None. wandb is optional: turngym does not depend on it."""
    project = os.environ.get("WANDB_PROJECT")
    if not project:
        return None
    try:
        import wandb
    except ImportError:
        return None
    return wandb.init(project=project, name=output_dir.name, dir=str(output_dir))


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(strict_json(row), allow_nan=False) + "\n"


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as indented strict JSON (see :func:`strict_json`)."""
    path = Path(path)
    path.write_text(json.dumps(strict_json(value), indent=2, allow_nan=False), encoding="utf-8")
    return path


def strict_json(value: Any) -> Any:
    """``value`` with every float that JSON cannot hold (NaN, inf) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def log_evaluation(logger: MetricsLogger, iteration: int, report: Any) -> None:
    """One evaluation's row (an :class:`~turngym.algos.evaluate.EvalReport`) as ``eval/*``."""
    logger.log(iteration, {
        "eval/success_rate": report.success_rate,
        "eval/mean_return": report.mean_return,
        "eval/success_rate_ci95_low": report.success_ci95[0],
        "eval/success_rate_ci95_high": report.success_ci95[1],
        "eval/mean_length": report.mean_length,
        "eval/invalid_action_rate": report.invalid_action_rate,
        "eval/env_errors": report.env_errors,
        **{f"eval/reward/{name}": value for name, value in report.reward_terms.items()},
    })  # fmt: skip


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def step_group_metrics(trajectories: list[Trajectory]) -> dict[str, float]:
    """How many turns share an anchor state (GiGPO's step groups), as a distribution summary."""
    histogram = step_group_size_histogram(trajectories)
    groups = sum(histogram.values())
    if not groups:
        return {}
    turns = sum(size * count for size, count in histogram.items())
    return {
        "step_groups/count": float(groups),
        "step_groups/mean_size": turns / groups,
        "step_groups/max_size": float(max(histogram)),
        "step_groups/singleton_fraction": histogram.get(1, 0) / groups,
    }


def rollout_metrics(trajectories: list[Trajectory], prefix: str = "rollout/") -> dict[str, float]:
    """Success rate, mean return and length, invalid-action rate and count of ``trajectories``
    (``prefix="rollout/greedy_"`` for ReMax's greedy baselines); episodes lost to an
    environment error are counted in ``env_errors`` and left out of the other figures."""
    if not trajectories:  # e.g. dynamic sampling kept no group
        return {f"{prefix}episodes": 0.0}
    lost = sum(t.error is not None for t in trajectories)
    trajectories = [t for t in trajectories if t.error is None]
    if not trajectories:
        return {f"{prefix}episodes": 0.0, f"{prefix}env_errors": float(lost)}
    turns = [turn for t in trajectories for turn in t.turns]
    return {
        f"{prefix}success_rate": float(np.mean([t.won for t in trajectories])),
        f"{prefix}mean_return": float(np.mean([t.return_ for t in trajectories])),
        f"{prefix}mean_length": float(np.mean([t.length for t in trajectories])),
        f"{prefix}invalid_action_rate": float(np.mean([not u.valid for u in turns]))
        if turns
        else 0.0,
        f"{prefix}episodes": float(len(trajectories)),
        f"{prefix}env_errors": float(lost),
    }


def training_summary(
    losses: list[float], name: str, examples: int, seconds: float
) -> dict[str, float]:
    """First and last loss, steps, examples and seconds of an offline training run."""
    return {
        f"{name}/loss_first": losses[0] if losses else float("nan"),
        f"{name}/loss_last": losses[-1] if losses else float("nan"),
        f"{name}/steps": float(len(losses)),
        f"{name}/examples": float(examples),
        "time/train_s": seconds,
    }
