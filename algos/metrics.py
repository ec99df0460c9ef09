"""Training metrics to a JSONL file and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from turngym.agents.trajectory import Trajectory

from .advantages import step_group_size_histogram


class MetricsLogger:
    """Appends one JSON object per ``log`` call to ``metrics.jsonl``; mirrors scalars to TB."""

    def __init__(self, output_dir: str | Path, tensorboard: bool = True):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "metrics.jsonl"
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.output_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"iteration": step, **metrics}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


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
    (``prefix="rollout/greedy_"`` for ReMax's greedy baselines)."""
    if not trajectories:  # e.g. dynamic sampling kept no group
        return {f"{prefix}episodes": 0.0}
    turns = [turn for t in trajectories for turn in t.turns]
    return {
        f"{prefix}success_rate": float(np.mean([t.won for t in trajectories])),
        f"{prefix}mean_return": float(np.mean([t.return_ for t in trajectories])),
        f"{prefix}mean_length": float(np.mean([t.length for t in trajectories])),
        f"{prefix}invalid_action_rate": float(np.mean([not u.valid for u in turns]))
        if turns
        else 0.0,
        f"{prefix}episodes": float(len(trajectories)),
    }
