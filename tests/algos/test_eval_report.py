"""Evaluation reports from hand-made trajectories: figures, pass@k, Markdown, loading, compare."""

from __future__ import annotations

import json

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.eval_report import (
    REPORT_FORMAT,
    ReportError,
    build_report,
    compare_reports,
    comparison_markdown,
    env_section,
    load_report,
    report_markdown,
)
from turngym.algos.eval_stats import wilson_interval


def episode(task, sample, won, task_type="a", turns=2, invalid=0, score=None, error=None):
    t = Trajectory(
        f"task{task}-sample{sample}",
        f"task{task}",
        "turngym/X-v0",
        task,
        0,
        task=f"goal {task}",
        task_type=task_type,
        won=won,
        score=score,
        error=error,
    )
    for i in range(turns):
        t.turns.append(Turn(f"obs {i}", [], [], [], f"act {i}", 0.0, valid=i >= invalid,
                            reward=1.0 if won and i == turns - 1 else 0.0))  # fmt: skip
    return t


def test_env_section_counts_intervals_invalid_actions_and_task_types():
    trajectories = [
        episode(0, 0, True, "a", turns=2),
        episode(1, 0, False, "a", turns=4, invalid=2),
        episode(2, 0, False, "b", turns=3, invalid=1),
        episode(3, 0, True, "b", turns=1),
        episode(4, 0, False, "b", error="worker died"),  # lost: counted apart
    ]
    s = env_section("turngym/X-v0", trajectories)
    assert s["episodes"] == 4 and s["successes"] == 2 and s["env_errors"] == 1
    assert s["success_rate"] == 0.5
    assert s["success_ci95"] == pytest.approx(list(wilson_interval(2, 4)))
    assert s["mean_length"] == pytest.approx((2 + 4 + 3 + 1) / 4)
    assert s["invalid_action_rate"] == pytest.approx(3 / 10)  # 2 + 1 invalid of 10 turns
    assert s["mean_return"] == pytest.approx(0.5)
    assert s["by_task_type"]["a"]["episodes"] == 2 and s["by_task_type"]["b"]["successes"] == 1
    assert s["by_task_type"]["b"]["success_ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert "mean_score" not in s and "pass_at_k" not in s and s["samples_per_task"] == 1


def test_pass_at_k_and_mean_at_k_over_samples_of_each_task():
    wins = {0: [True, False, False], 1: [False, False, False], 2: [True, True, False]}
    trajectories = [episode(task, j, won, score=1.0 if won else 0.25)
                    for task, row in wins.items() for j, won in enumerate(row)]  # fmt: skip
    s = env_section("turngym/X-v0", trajectories)
    assert s["tasks"] == 3 and s["samples_per_task"] == 3
    # pass@2 by hand: task 0: 1 - C(2,2)/C(3,2) = 2/3; task 1: 0; task 2: 1 - 0 = 1
    assert s["pass_at_k"]["2"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s["pass_at_k"]["1"] == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)
    assert s["pass_at_k"]["3"] == pytest.approx(2 / 3)
    assert s["mean_at_k"] == pytest.approx(s["pass_at_k"]["1"])
    # native scores (WebShop-like): mean over all episodes, and mean@k over tasks
    assert s["mean_score"] == pytest.approx((3 * 1.0 + 6 * 0.25) / 9)
    assert s["mean_score_at_k"] == pytest.approx(s["mean_score"])


def report_of(wins: int, episodes: int, version: str = REPORT_FORMAT) -> dict:
    trajectories = [episode(i, 0, i < wins, "a" if i % 2 else "b") for i in range(episodes)]
    report = build_report({"turngym/X-v0": trajectories}, {"model": {"name": "m"}, "seed": 0})
    report["format"] = version
    return report


def test_markdown_holds_each_figure_with_its_interval():
    text = report_markdown(report_of(30, 100))
    assert "| turngym/X-v0 | 100 | 30.0% [21.9%, 39.6%] |" in text
    assert "| turngym/X-v0 | a | 50 |" in text and "| turngym/X-v0 | b | 50 |" in text


def test_load_report_refuses_other_formats_and_non_reports(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report_of(1, 4)))
    assert load_report(good)["results"]["turngym/X-v0"]["episodes"] == 4
    other = tmp_path / "other.json"
    old = report_of(1, 4, version="turngym-eval-report/0")
    old["turngym_version"] = "0.0.1"
    other.write_text(json.dumps(old))
    with pytest.raises(ReportError, match=r"format 'turngym-eval-report/0' \(turngym 0.0.1\)"):
        load_report(other)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"episodes": 4, "success_rate": 0.25}))  # the old flat report
    with pytest.raises(ReportError, match="not a turngym evaluation report"):
        load_report(plain)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ReportError, match="is not JSON"):
        load_report(broken)
    with pytest.raises(ReportError, match="no such report file"):
        load_report(tmp_path / "absent.json")


def test_compare_gives_the_difference_and_whether_intervals_overlap():
    base, close, far = report_of(30, 100), report_of(35, 100), report_of(70, 100)
    rows = compare_reports([base, close, far], ["base", "close", "far"])
    overall = rows[0]
    assert overall["group"] == "all"
    first, second, third = overall["reports"]
    assert first["difference"] == 0 and first["overlaps_first"]
    assert second["difference"] == pytest.approx(0.05) and second["overlaps_first"]
    # 30/100: [21.9%, 39.6%]; 70/100: [60.4%, 78.1%]: apart
    assert third["difference"] == pytest.approx(0.40) and not third["overlaps_first"]
    assert {row["group"] for row in rows} == {"all", "a", "b"}
    text = comparison_markdown(rows, ["base", "close", "far"])
    assert "+5.0 pts (intervals overlap)" in text and "+40.0 pts (intervals apart)" in text


def test_compare_marks_an_environment_missing_from_a_report():
    other = report_of(1, 4)
    other["results"] = {"turngym/Y-v0": other["results"]["turngym/X-v0"]}
    rows = compare_reports([report_of(1, 4), other], ["a", "b"])
    assert rows[0]["reports"][1] == {"name": "b", "missing": True}
    assert "absent" in comparison_markdown(rows, ["a", "b"])


def test_in_an_environment_with_a_score_every_task_type_has_one():
    """WebShop scores only a purchase: an episode that never bought scores 0, and a task type
    none of whose episodes bought still shows its mean score (0), as the environment's does."""
    trajectories = [episode(0, 0, False, "beauty", score=0.5), episode(1, 0, False, "fashion")]
    s = env_section("turngym/X-v0", trajectories)
    assert s["mean_score"] == pytest.approx(0.25)
    assert s["by_task_type"]["beauty"]["mean_score"] == pytest.approx(0.5)
    assert s["by_task_type"]["fashion"]["mean_score"] == 0.0
