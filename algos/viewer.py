"""A static HTML trajectory viewer: one self-contained file (inline script and style, no
server, no CDN) listing episodes, filterable by environment, task type and outcome; a click
opens an episode's turns (observation, the agent's raw output, the parsed action, reward) and
its outcome.

Escaping: the episodes travel as JSON inside a ``<script type="application/json">`` with
``<``, ``>`` and ``&`` written as ``\\u`` escapes, so no observation can close the script, and
the page puts every text into the DOM with ``textContent``, never as markup.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from turngym.agents.trajectory import Trajectory, load_trajectories

from .episode_log import EpisodeLog
from .metrics import strict_json

TEMPLATE = "viewer_template.html"


def find_trajectories(source: str | Path) -> tuple[list[Trajectory], str]:
    """The trajectories behind ``source`` and a description of where they came from.

    ``source``: an evaluation report (``report.json``: its ``episodes.jsonl`` beside it), an
    evaluation folder, a training run folder (``trajectories/iter_*.parquet``, written with
    ``train.save_trajectories=true``) or a trajectory file (``.parquet`` / ``.jsonl``)."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run folder, report or trajectory file")
    if path.is_file() and path.suffix == ".json":
        path = path.parent
    if path.is_file():
        return load_trajectories(path), str(path)
    if (path / "episodes.jsonl").is_file():
        return EpisodeLog(path / "episodes.jsonl").trajectories(), str(path / "episodes.jsonl")
    saved = sorted((path / "trajectories").glob("iter_*.parquet"))
    if saved:
        trajectories = []
        for file in saved:
            for t in load_trajectories(file):
                t.episode_id = f"{file.stem}/{t.episode_id}"
                trajectories.append(t)
        return trajectories, f"{path / 'trajectories'} ({len(saved)} iterations)"
    raise ValueError(
        f"{path} holds no episodes: expected an evaluation's episodes.jsonl (turngym eval "
        "--output-dir) or a run's trajectories/iter_*.parquet (train.save_trajectories=true)"
    )


def episode_row(t: Trajectory) -> dict[str, Any]:
    """What the page shows of one episode."""
    return {
        "episode_id": t.episode_id,
        "env_id": t.env_id,
        "task_id": t.task_id,
        "task_type": t.task_type,
        "task": t.task,
        "won": t.won,
        "truncated": t.truncated,
        "error": t.error,
        "return": t.return_,
        "length": t.length,
        "score": t.score,
        "final_observation": t.final_observation,
        "turns": [
            {
                "observation": u.observation,
                "response_text": u.response_text,
                "action": u.action,
                "valid": u.valid,
                "reward": u.reward,
            }
            for u in t.turns
        ],
    }


def script_safe_json(value: Any) -> str:
    """JSON that can sit inside a ``<script>`` element: no ``<``, ``>`` or ``&`` in it."""
    text = json.dumps(strict_json(value), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_viewer(trajectories: list[Trajectory], title: str, subtitle: str = "") -> str:
    """The page's HTML."""
    template = files("turngym.algos").joinpath(TEMPLATE).read_text(encoding="utf-8")
    data = {
        "title": title,
        "subtitle": subtitle,
        "episodes": [episode_row(t) for t in trajectories],
    }
    return template.replace("__TITLE__", html.escape(title)).replace(
        "__DATA__", script_safe_json(data)
    )


def write_viewer(source: str | Path, output: str | Path | None = None) -> Path:
    """Write the viewer of ``source`` (see :func:`find_trajectories`) to ``output`` (default:
    ``viewer.html`` in the source's folder); its path."""
    trajectories, origin = find_trajectories(source)
    if not trajectories:
        raise ValueError(f"{origin} holds no episodes yet")
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    output = Path(output) if output is not None else folder / "viewer.html"
    won = sum(t.won for t in trajectories)
    subtitle = f"{len(trajectories)} episodes, {won} won, from {origin}"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        render_viewer(trajectories, f"turngym episodes: {folder.name}", subtitle), encoding="utf-8"
    )
    return output
