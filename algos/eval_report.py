"""Evaluation reports: the JSON a paper's table is made from, its Markdown, and comparisons.

A report holds, per environment, the figures of :func:`turngym.algos.evaluate.summarize`
(success with its 95% Wilson interval and the episode count, per task type, mean return,
length, invalid-action rate, native score) plus pass@k and mean@k when each task was sampled
k > 1 times; and what it takes to reproduce them: the turngym version, the environments' ids
and entry points, the model, the sampling settings, the tasks and the seed.

``format`` names the layout (:data:`REPORT_FORMAT`); :func:`load_report` refuses any other, so a
report written by another version of turngym fails with one clear line instead of a KeyError.
"""

from __future__ import annotations

import json
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from turngym.agents.trajectory import Trajectory

from .eval_stats import intervals_overlap, mean_at_k, mean_pass_at_k
from .evaluate import format_rate, summarize

REPORT_FORMAT = "turngym-eval-report/1"


class ReportError(ValueError):
    """A file that is not a report this version of turngym reads."""


def turngym_version() -> str:
    try:
        return version("turngym")
    except PackageNotFoundError:
        return "unknown"


def env_section(env_id: str, trajectories: list[Trajectory]) -> dict[str, Any]:
    """One environment's figures; with several samples per task also pass@k for k = 1..n
    (n: the fewest finished samples of any task) and mean@k over the tasks' samples."""
    section = summarize(env_id, trajectories).to_dict()
    finished = [t for t in trajectories if t.error is None]
    by_task: dict[str, list[Trajectory]] = defaultdict(list)
    for t in finished:
        by_task[json.dumps(t.task_id)].append(t)
    section["tasks"] = len(by_task)
    samples = min((len(ts) for ts in by_task.values()), default=0)
    section["samples_per_task"] = samples
    if samples > 1:
        outcomes = [[t.won for t in ts] for ts in by_task.values()]
        section["pass_at_k"] = {str(k): mean_pass_at_k(outcomes, k) for k in range(1, samples + 1)}
        section["mean_at_k"] = mean_at_k(outcomes)
        if section.get("mean_score") is not None:
            section["mean_score_at_k"] = mean_at_k(
                [[t.score or 0.0 for t in ts] for ts in by_task.values()]
            )
    return section


def build_report(
    trajectories_by_env: dict[str, list[Trajectory]], setup: dict[str, Any]
) -> dict[str, Any]:
    """The report: ``setup`` (model, sampling, tasks, seed, environments) and each
    environment's section."""
    return {
        "format": REPORT_FORMAT,
        "turngym_version": turngym_version(),
        **setup,
        "results": {env: env_section(env, ts) for env, ts in trajectories_by_env.items()},
    }


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report written by ``turngym eval``; :class:`ReportError` names the file and what
    is wrong when it is not one, or one of another format."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such report file")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{path} is not JSON ({error})") from None
    found = report.get("format") if isinstance(report, dict) else None
    if found != REPORT_FORMAT:
        writer = report.get("turngym_version", "an unknown version") if found else "none"
        raise ReportError(
            f"{path} is a report of format {found!r} (turngym {writer}); this turngym "
            f"({turngym_version()}) reads {REPORT_FORMAT!r}: re-run `turngym eval` to rewrite it"
            if found
            else f"{path} is not a turngym evaluation report (no 'format': {REPORT_FORMAT!r})"
        )
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: one row per environment, then one per task type."""
    model = report.get("model", {})
    lines = [
        f"# Evaluation of {model.get('name', '?')}",
        "",
        f"turngym {report['turngym_version']}, seed {report.get('seed')}, sampling "
        f"{json.dumps(report.get('sampling', {}))}",
        "",
        "| environment | episodes | success [95% CI] | mean return | mean length "
        "| invalid actions | mean score | pass@k |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env_id, s in report["results"].items():
        lines.append(
            f"| {env_id} | {s['episodes']} | {format_rate(s['success_rate'], s['success_ci95'])} "
            f"| {s['mean_return']:.3f} | {s['mean_length']:.1f} | {s['invalid_action_rate']:.1%} "
            f"| {_maybe(s.get('mean_score'))} | {_pass_at_k_text(s)} |"
        )
    lines += [
        "",
        "| environment | task type | episodes | success [95% CI] | mean score |",
        "|---|---|---|---|---|",
    ]
    for env_id, s in report["results"].items():
        for task_type, t in s["by_task_type"].items():
            lines.append(
                f"| {env_id} | {task_type} | {t['episodes']} "
                f"| {format_rate(t['success_rate'], t['success_ci95'])} "
                f"| {_maybe(t.get('mean_score'))} |"
            )
    if any(s["env_errors"] for s in report["results"].values()):
        lost = ", ".join(f"{e}: {s['env_errors']}" for e, s in report["results"].items())
        lines += ["", f"Episodes lost to environment errors (not counted above): {lost}."]
    return "\n".join(lines) + "\n"


def _maybe(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _pass_at_k_text(section: dict[str, Any]) -> str:
    passes = section.get("pass_at_k")
    if not passes:
        return ""
    n = section["samples_per_task"]
    return ", ".join(f"@{k} {v:.1%}" for k, v in passes.items()) + f" (n={n})"


def compare_reports(reports: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """One row per (environment, task type or ``all``) present in the first report: each
    report's success rate and interval, the difference from the first report, and whether each
    interval overlaps the first's (non-overlapping 95% Wilson intervals: a real difference)."""
    rows = []
    base = reports[0]["results"]
    for env_id, section in base.items():
        groups = {"all": section, **section["by_task_type"]}
        if list(section["by_task_type"]) == ["all"]:
            groups = {"all": section}
        for group, first in groups.items():
            row = {"env_id": env_id, "group": group, "reports": []}
            for name, report in zip(names, reports, strict=True):
                other = report["results"].get(env_id)
                if other is not None and group != "all":
                    other = other["by_task_type"].get(group)
                if other is None:
                    row["reports"].append({"name": name, "missing": True})
                    continue
                row["reports"].append(
                    {
                        "name": name,
                        "episodes": other["episodes"],
                        "success_rate": other["success_rate"],
                        "success_ci95": other["success_ci95"],
                        "difference": other["success_rate"] - first["success_rate"],
                        "overlaps_first": intervals_overlap(
                            other["success_ci95"], first["success_ci95"]
                        ),
                    }
                )
            rows.append(row)
    return rows


def comparison_markdown(rows: list[dict[str, Any]], names: list[str]) -> str:
    """The comparison as a Markdown table; the difference is against the first report."""
    header = ["environment", "task type"] + [f"{n}" for n in names]
    header += [f"{n} - {names[0]}" for n in names[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["env_id"], row["group"]]
        for entry in row["reports"]:
            cells.append(
                "absent"
                if entry.get("missing")
                else f"{format_rate(entry['success_rate'], entry['success_ci95'])} "
                f"(n={entry['episodes']})"
            )
        for entry in row["reports"][1:]:
            if entry.get("missing"):
                cells.append("")
                continue
            verdict = "intervals overlap" if entry["overlaps_first"] else "intervals apart"
            cells.append(f"{entry['difference'] * 100:+.1f} pts ({verdict})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
