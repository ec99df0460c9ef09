"""``turngym pipeline CONFIG [overrides]``: a multi-stage recipe (SFT, RL, rejection sampling,
preference, ...) from one config, each stage starting from the one before; prints the
per-stage table. Mounted in :mod:`turngym.cli.app` with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

app = typer.Typer()


@app.command()
def pipeline(
    config: Annotated[Path, typer.Argument(help="YAML pipeline config")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="dotted.key=value ... (a stage by name: stages.rl.config.algo....)"),
    ] = None,
) -> None:
    """Run a pipeline's stages in order (run.resume=true continues a stopped one, skipping
    finished stages); evaluates before and after each stage on the same held-out tasks."""
    from .app import reports_errors

    reports_errors(_run)(config, overrides or [])


def _run(config: Path, overrides: list[str]) -> None:
    from turngym.config.pipeline import PipelineConfig
    from turngym.config.run import load_config

    from .app import console

    settings = load_config(config, overrides, PipelineConfig)
    from turngym.algos.evaluate import format_rate
    from turngym.algos.pipeline import Pipeline

    stages = " -> ".join(f"{s.name} ({s.kind})" for s in settings.stages)
    console.print(f"pipeline on {settings.env.id}: {stages} -> {settings.run.output_dir}",
                  markup=False, soft_wrap=True)  # fmt: skip
    report = Pipeline(settings).run()
    table = Table(title=f"success on {report['eval_episodes']} held-out episodes of "
                  f"{report['env']}")  # fmt: skip
    for column in ("stage", "kind", "before", "after", "change", "minutes"):
        table.add_column(column, no_wrap=True)
    for row in report["stages"]:
        change = (row["success_after"] - row["success_before"]) * 100
        table.add_row(row["stage"], row["kind"], f"{row['success_before']:.1%}",
                      format_rate(row["success_after"], row["success_after_ci95"]),
                      f"{change:+.1f} pts",
                      f"{row['minutes']:.1f}")  # fmt: skip
    console.print(table)
    for row in report["stages"]:
        if row["scores_after"]:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in row["scores_after"].items())
            console.print(f"{row['stage']}: eval scorers after: {scores}", markup=False)
    console.print(f"final checkpoint: {report['final_checkpoint']}", markup=False, soft_wrap=True)
