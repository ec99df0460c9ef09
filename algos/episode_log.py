"""Finished episodes on disk as they end, so that an interrupted evaluation resumes.

One JSON line per trajectory, appended, flushed and fsynced the moment its episode ends: a run
killed at any point (``kill -9`` included) loses only the episodes still in flight. A line torn
by the kill (no final newline) is cut off when the log is opened again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from turngym.agents.trajectory import Trajectory


class EpisodeLog:
    """``episodes.jsonl`` of an evaluation: :meth:`finished` reads it back, :meth:`append`
    adds one trajectory. Episodes are keyed by (env id, episode id); the last line wins."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with self.path.open("r+b") as f:
                f.truncate(end)

    def trajectories(self) -> list[Trajectory]:
        """Every logged trajectory, the latest line for each episode, in first-logged order."""
        if not self.path.exists():
            return []
        latest: dict[tuple[str, str], Trajectory] = {}
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    trajectory = Trajectory.from_dict(json.loads(line))
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(
                        f"{self.path}:{number} is not a logged episode ({error})"
                    ) from None
                latest[(trajectory.env_id, trajectory.episode_id)] = trajectory
        return list(latest.values())

    def finished(self) -> dict[tuple[str, str], Trajectory]:
        """Episodes that ended by the environment's rules (those lost to an environment error
        are run again on resume)."""
        return {(t.env_id, t.episode_id): t for t in self.trajectories() if t.error is None}

    def append(self, trajectory: Trajectory) -> None:
        line = json.dumps(trajectory.to_dict(), ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
