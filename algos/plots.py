"""PNG plots: an evaluation's success per task type with its intervals, a run's training curves.

matplotlib with the Agg backend (files only, no display needed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: the curves ``turngym plot`` draws, when the run logged them: (metrics key, panel title)
TRAINING_CURVES = [
    ("rollout/success_rate", "rollout success rate"),
    ("eval/success_rate", "held-out success rate"),
    ("rollout/mean_return", "rollout mean return"),
    ("rollout/mean_length", "rollout mean length"),
    ("rollout/invalid_action_rate", "invalid-action rate"),
    ("loss/policy", "policy loss"),
    ("loss/kl", "KL to the reference (loss term)"),
    ("loss/approx_kl_old", "approx. KL to the rollout policy"),
    ("policy/entropy", "entropy"),
    ("loss/clip_fraction", "clip fraction"),
    ("step_groups/mean_size", "GiGPO step-group mean size"),
    ("step_groups/singleton_fraction", "GiGPO singleton step groups"),
    ("time/tokens_per_s", "rollout tokens/s"),
    ("time/env_steps_per_s", "environment steps/s"),
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_success_by_task_type(report: dict[str, Any], path: str | Path) -> Path:
    """One bar per (environment, task type) with its 95% Wilson interval as the error bar."""
    plt = _pyplot()
    labels, rates, low, high = [], [], [], []
    single = len(report["results"]) == 1  # then the title names the environment
    for env_id, section in report["results"].items():
        groups = section["by_task_type"] or {"all": section}
        for task_type, row in groups.items():
            name = env_id.removeprefix("turngym/")
            labels.append(task_type if single else f"{name}\n{task_type}")
            rates.append(row["success_rate"])
            low.append(row["success_rate"] - row["success_ci95"][0])
            high.append(row["success_ci95"][1] - row["success_rate"])
    figure, axes = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 4.0))
    positions = range(len(labels))
    axes.bar(positions, rates, yerr=[low, high], capsize=4, color="#4c72b0")
    axes.set_xticks(
        list(positions),
        labels,
        rotation=30 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
        fontsize=8,
    )
    axes.set_ylim(0, 1)
    axes.set_ylabel("success rate (95% Wilson interval)")
    title = report.get("model", {}).get("name", "")
    if single:
        title = f"{title} on {next(iter(report['results']))}"
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_training_curves(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """One panel per metric of :data:`TRAINING_CURVES` that ``rows`` (a run's
    ``metrics.jsonl``) holds, against the iteration. Raises ValueError when there is none."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    curves = []
    for key, title in TRAINING_CURVES:
        points = [
            (r["iteration"], r[key])
            for r in rows
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        ]
        if points:
            curves.append((title, key, points))
    if not curves:
        known = ", ".join(k for k, _ in TRAINING_CURVES)
        raise ValueError(f"no training curve to draw: the metrics hold none of {known}")
    columns = min(3, len(curves))
    lines = math.ceil(len(curves) / columns)
    figure, grid = plt.subplots(lines, columns, figsize=(4.2 * columns, 2.8 * lines), squeeze=False)
    for axes, (title, key, points) in zip(grid.flat, curves, strict=False):
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3)
        band = [(r["iteration"], r[f"{key}_ci95_low"], r[f"{key}_ci95_high"]) for r in rows
                if r.get(f"{key}_ci95_low") is not None]  # fmt: skip
        if band:  # held-out success: its 95% Wilson interval as a shaded band
            bx, low, high = zip(*band, strict=True)
            axes.fill_between(bx, low, high, alpha=0.25, label="95% interval")
            axes.legend(fontsize=7, loc="upper left")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("iteration", fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.tick_params(labelsize=7)
        if key.endswith(("success_rate", "fraction", "invalid_action_rate")):
            axes.set_ylim(-0.02, 1.02)
    for axes in list(grid.flat)[len(curves) :]:
        axes.axis("off")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
