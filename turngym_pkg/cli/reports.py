"""``turngym compare``, ``turngym view`` and ``turngym plot``: what a user looks at after a run.

turngym compare runs/eval_a/report.json runs/eval_b/report.json
turngym view runs/eval_a            # viewer.html: the episodes, filterable, expandable
turngym plot runs/household         # training_curves.png from metrics.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def compare(
    reports: Annotated[list[Path], typer.Argument(help="two or more report.json files")],
    output: Annotated[
        Path | None, typer.Option(help="also write the table (Markdown) here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of Markdown")] = False,
) -> None:
    """Reports side by side: each success rate with its 95% interval, the difference from the
    first report, and whether the intervals overlap."""
    from turngym.algos.eval_report import compare_reports, comparison_markdown, load_report

    if len(reports) < 2:
        raise ValueError(f"compare needs two or more reports, got {len(reports)}")
    loaded = [load_report(path) for path in reports]
    names = [_report_name(path, reports) for path in reports]
    rows = compare_reports(loaded, names)
    text = json.dumps(rows, indent=2) if as_json else comparison_markdown(rows, names)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    print(text, end="" if text.endswith("\n") else "\n")


def _report_name(path: Path, paths: list[Path]) -> str:
    """The report's folder name (``report.json`` files usually differ only in their folder),
    or its file name when that is ambiguous."""
    folders = [p.resolve().parent.name for p in paths]
    name = path.resolve().parent.name
    return name if folders.count(name) == 1 else str(path)


def view(
    source: Annotated[
        Path,
        typer.Argument(
            help="an eval folder or report.json, a run folder, or a .parquet/.jsonl trajectory file"
        ),
    ],
    output: Annotated[
        Path | None, typer.Option(help="HTML file (default: viewer.html there)")
    ] = None,
) -> None:
    """Write a static HTML page of the episodes (no server, no CDN): filter by environment,
    task type and outcome; click an episode to see its turns."""
    from turngym.algos.viewer import write_viewer

    path = write_viewer(source, output)
    typer.echo(f"viewer written to {path} (open it in a browser)")


def plot(
    source: Annotated[Path, typer.Argument(help="a run folder (metrics.jsonl) or a report.json")],
    output: Annotated[
        Path | None, typer.Option(help="PNG file (default: beside the source)")
    ] = None,
) -> None:
    """Draw a run's training curves (success, return, KL, entropy, clip fraction, step groups,
    throughput) or a report's success per task type, to PNG."""
    from turngym.algos.metrics import read_metrics
    from turngym.algos.plots import plot_success_by_task_type, plot_training_curves

    if source.is_file() and source.suffix == ".json":
        from turngym.algos.eval_report import load_report

        report = load_report(source)
        path = plot_success_by_task_type(
            report, output or source.with_name("success_by_task_type.png")
        )
    elif (source / "metrics.jsonl").is_file():
        path = plot_training_curves(
            read_metrics(source / "metrics.jsonl"), output or source / "training_curves.png"
        )
    elif (source / "report.json").is_file():
        from turngym.algos.eval_report import load_report

        report = load_report(source / "report.json")
        path = plot_success_by_task_type(report, output or source / "success_by_task_type.png")
    else:
        raise FileNotFoundError(
            f"{source}: no metrics.jsonl (a training run) or report.json (an evaluation) there"
        )
    typer.echo(f"plot written to {path}")


#: mounted on the ``turngym`` app under these names
COMMANDS = {"compare": compare, "view": view, "plot": plot}
