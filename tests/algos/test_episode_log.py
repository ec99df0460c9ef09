"""The evaluation's episode log: appended as episodes end, read back after a torn write."""

from __future__ import annotations

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.episode_log import EpisodeLog


def trajectory(index: int, won: bool = False, error: str | None = None) -> Trajectory:
    t = Trajectory(f"task{index}-sample0", f"task{index}", "turngym/X-v0", index, index,
                   won=won, error=error, score=0.5)  # fmt: skip
    t.turns.append(Turn("<b>obs</b>", [1, 2], [3], [-0.5], "go", -0.5, True, reward=1.0))
    return t


def test_round_trip_keeps_every_field(tmp_path):
    log = EpisodeLog(tmp_path / "episodes.jsonl")
    log.append(trajectory(0, won=True))
    (back,) = EpisodeLog(tmp_path / "episodes.jsonl").trajectories()
    assert back == trajectory(0, won=True)


def test_a_torn_last_line_is_cut_and_appends_go_on_cleanly(tmp_path):
    path = tmp_path / "episodes.jsonl"
    log = EpisodeLog(path)
    log.append(trajectory(0))
    log.append(trajectory(1))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 25])  # killed in the middle of the second line
    log = EpisodeLog(path)
    assert [t.episode_id for t in log.trajectories()] == ["task0-sample0"]
    log.append(trajectory(2))
    assert [t.episode_id for t in log.trajectories()] == ["task0-sample0", "task2-sample0"]


def test_lost_episodes_are_not_finished_and_the_last_line_wins(tmp_path):
    log = EpisodeLog(tmp_path / "episodes.jsonl")
    log.append(trajectory(0, error="worker died"))
    log.append(trajectory(1))
    assert set(log.finished()) == {("turngym/X-v0", "task1-sample0")}
    log.append(trajectory(0, won=True))  # the rerun of the lost episode
    assert set(log.finished()) == {("turngym/X-v0", "task0-sample0"),
                                   ("turngym/X-v0", "task1-sample0")}  # fmt: skip
    assert [t.won for t in log.trajectories()] == [True, False]


def test_a_line_that_is_not_an_episode_names_the_file_and_line(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"episode_id": "x"}\n')
    with pytest.raises(ValueError, match=r"episodes.jsonl:1 is not a logged episode"):
        EpisodeLog(path).trajectories()
