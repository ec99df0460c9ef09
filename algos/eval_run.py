"""A resumable evaluation: k samples of each task on one or more environments, every finished
episode logged as it ends, the report, its Markdown and its plot written at the end.

The output folder holds ``setup.json`` (what is evaluated and how), ``episodes.jsonl``
(:class:`~turngym.algos.episode_log.EpisodeLog`), ``report.json``, ``report.md`` and
``success_by_task_type.png``. Run again on the same folder with the same setup, it skips the
episodes already logged; with another setup it refuses, naming the first key that differs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import EpisodeSpec, run_episodes
from turngym.agents.trajectory import Trajectory

from .episode_log import EpisodeLog
from .eval_report import build_report, report_markdown
from .metrics import write_json

SETUP_FILE, EPISODES_FILE, REPORT_FILE, MARKDOWN_FILE = (
    "setup.json",
    "episodes.jsonl",
    "report.json",
    "report.md",
)


@dataclass
class EvalTarget:
    """One environment to evaluate on: its id, ``gymnasium.make`` kwargs and task ids."""

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    task_ids: list[Any] = field(default_factory=list)


def episode_specs(task_ids: list[Any], samples: int, seed: int) -> list[EpisodeSpec]:
    """``samples`` episodes of each task; the ids and reset seeds depend only on the task's
    position and the sample's number, so a resumed run asks for the same episodes."""
    return [
        EpisodeSpec(
            episode_id=f"task{position}-sample{sample}",
            group_id=f"task{position}",
            task_id=task_id,
            seed=seed + position * samples + sample,
        )
        for position, task_id in enumerate(task_ids)
        for sample in range(samples)
    ]


def check_setup(output_dir: Path, setup: dict[str, Any]) -> None:
    """Write ``setup.json``, or check it matches the one already there (a resumed run)."""
    path = output_dir / SETUP_FILE
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        comparable = json.loads(json.dumps(setup))
        for key in sorted(set(saved) | set(comparable)):
            if saved.get(key) != comparable.get(key):
                raise ValueError(
                    f"{output_dir} holds an evaluation with another setup ({key}: "
                    f"{json.dumps(saved.get(key))} there, {json.dumps(comparable.get(key))} now); "
                    "give another --output-dir, or the same settings to resume it"
                )
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, setup)


def run_evaluation(
    agent: Any,
    targets: list[EvalTarget],
    setup: dict[str, Any],
    output_dir: Path | None,
    samples: int = 1,
    seed: int = 0,
    num_workers: int = 0,
    num_slots: int = 64,
    imports: tuple[str, ...] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Run what ``output_dir`` has not logged yet, then write the report files there; the
    report. Without ``output_dir`` nothing is written and nothing resumes.

    ``agent`` is anything with ``act(list[AgentInput]) -> list[Decision]`` (an
    :class:`~turngym.agents.agent.Agent` or an
    :class:`~turngym.agents.endpoint_agent.EndpointAgent`)."""
    log, done = None, {}
    if output_dir is not None:
        check_setup(output_dir, setup)
        log = EpisodeLog(output_dir / EPISODES_FILE)
        done = log.finished()
    results: dict[str, list[Trajectory]] = {}
    for target in targets:
        specs = episode_specs(target.task_ids, samples, seed)
        todo = [s for s in specs if (target.env_id, s.episode_id) not in done]
        if len(todo) < len(specs):
            tqdm.write(
                f"{target.env_id}: resuming, {len(specs) - len(todo)} of {len(specs)} "
                f"episodes already in {log.path}, running the other {len(todo)}",
                file=sys.stderr,
            )
        fresh: dict[str, Trajectory] = {}
        if todo:
            with EnvPool(
                target.env_id,
                target.env_kwargs,
                min(num_slots, len(todo)),
                num_workers,
                imports=imports,
            ) as pool:
                for t in run_episodes(
                    agent,
                    pool,
                    todo,
                    progress=progress,
                    on_episode_end=None if log is None else log.append,
                ):
                    fresh[t.episode_id] = t
        results[target.env_id] = [
            fresh.get(s.episode_id) or done[(target.env_id, s.episode_id)] for s in specs
        ]
    report = build_report(results, setup)
    if output_dir is not None:
        write_report_files(report, output_dir)
    return report


def write_report_files(report: dict[str, Any], output_dir: Path) -> None:
    """``report.json``, ``report.md`` and ``success_by_task_type.png`` in ``output_dir``."""
    from .plots import plot_success_by_task_type

    write_json(output_dir / REPORT_FILE, report)
    (output_dir / MARKDOWN_FILE).write_text(report_markdown(report), encoding="utf-8")
    plot_success_by_task_type(report, output_dir / "success_by_task_type.png")
