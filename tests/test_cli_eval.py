"""``turngym eval`` end to end: reports with intervals and pass@k, the files of --output-dir,
resuming (after a torn write, and after a real ``kill -9``), an OpenAI-compatible endpoint
(``turngym serve``'s server on 127.0.0.1, through the real ``openai`` client), and the
``compare``, ``view`` and ``plot`` commands on what it wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest
from typer.testing import CliRunner

from turngym.agents.serve import ModelServer
from turngym.algos.episode_log import EpisodeLog
from turngym.algos.eval_stats import wilson_interval
from turngym.cli import app

runner = CliRunner()
HOUSEHOLD = "turngym/Household-v0"


def eval_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--checkpoint", str(model), "--env", HOUSEHOLD, "--mode", "choose",
            "--output-dir", str(out), "--no-progress", *extra]  # fmt: skip


def test_eval_writes_report_markdown_plot_and_episodes(tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(app, eval_args(tiny_model_dir, out, "--episodes", "6", "--samples",
                                          "3", "--seed", "5"))  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(result.stdout)
    assert report["format"] == "turngym-eval-report/1" and report["turngym_version"]
    assert report["model"]["kind"] == "checkpoint" and report["model"]["weights"]
    assert report["sampling"]["mode"] == "choose" and report["seed"] == 5
    assert report["environments"][HOUSEHOLD]["task_ids"] == {"start": 0, "stop": 6}
    section = report["results"][HOUSEHOLD]
    assert section["episodes"] == 18 and section["tasks"] == 6
    assert section["success_ci95"] == pytest.approx(list(wilson_interval(section["successes"], 18)))
    assert set(section["pass_at_k"]) == {"1", "2", "3"}
    assert section["pass_at_k"]["1"] == pytest.approx(section["success_rate"])
    assert section["pass_at_k"]["1"] <= section["pass_at_k"]["2"] <= section["pass_at_k"]["3"]
    markdown = (out / "report.md").read_text()
    assert f"| {HOUSEHOLD} | 18 |" in markdown and "(n=3)" in markdown
    image = matplotlib.image.imread(out / "success_by_task_type.png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    logged = EpisodeLog(out / "episodes.jsonl").trajectories()
    assert len(logged) == 18 and {t.group_id for t in logged} == {f"task{i}" for i in range(6)}
    assert f"success {section['success_rate']:.1%} [" in result.stderr


def test_a_rerun_skips_the_logged_episodes_and_refuses_other_settings(tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    args = eval_args(tiny_model_dir, out, "--episodes", "6")
    assert runner.invoke(app, args).exit_code == 0
    log = out / "episodes.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # killed while writing the third
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "resuming, 2 of 6 episodes already in" in result.stderr
    logged = EpisodeLog(log).trajectories()
    assert len(logged) == 6 and len(log.read_text().splitlines()) == 6
    assert json.loads((out / "report.json").read_text())["results"][HOUSEHOLD]["episodes"] == 6
    result = runner.invoke(app, eval_args(tiny_model_dir, out, "--episodes", "6",
                                          "--temperature", "0.5"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "another setup (sampling:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # refused before the model loads


@pytest.mark.slow
def test_kill_9_loses_at_most_the_episodes_in_flight(tiny_model_dir, tmp_path):
    """A real ``turngym eval`` process, SIGKILLed mid-run: every logged line is a whole episode,
    and the rerun runs exactly the episodes not logged."""
    out, episodes, slots = tmp_path / "eval", 40, 2
    args = eval_args(tiny_model_dir, out, "--episodes", str(episodes), "--slots", str(slots))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "turngym.cli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    log = out / "episodes.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and log.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the evaluation ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    survived = EpisodeLog(log).trajectories()  # raises if a whole line were not an episode
    assert 5 <= len(survived) < episodes
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"resuming, {len(survived)} of {episodes} episodes already in" in result.stderr
    finished = EpisodeLog(log).trajectories()
    assert len(finished) == episodes
    assert len(log.read_text().splitlines()) == episodes  # none run twice
    assert [t.episode_id for t in finished[: len(survived)]] == [t.episode_id for t in survived]


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    with ModelServer.from_checkpoint(tiny_model_dir, model_name="tiny", batch_wait_s=0.02) as s:
        yield s


def test_eval_of_an_openai_compatible_endpoint(served, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "--endpoint", served.base_url, "--env", HOUSEHOLD,
                                 "--episodes", "3", "--samples", "2", "--max-new-tokens", "8",
                                 "--output-dir", str(out), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == {"kind": "endpoint", "name": "tiny", "endpoint": served.base_url}
    assert report["results"][HOUSEHOLD]["episodes"] == 6
    assert "pass_at_k" in report["results"][HOUSEHOLD]
    turns = [u for t in EpisodeLog(out / "episodes.jsonl").trajectories() for u in t.turns]
    assert turns and all(u.response_text for u in turns)  # the server's replies, as sent
    # generate mode: a reply without <action> goes to the environment as written
    assert all(u.action == u.response_text.strip() for u in turns if "<action>" not in
               u.response_text)  # fmt: skip
    result = runner.invoke(app, ["eval", "--endpoint", served.base_url, "--env", HOUSEHOLD,
                                 "--mode", "choose", "--episodes", "1"])  # fmt: skip
    assert result.exit_code == 2 and "an endpoint agent acts in generate mode" in result.stderr


def test_compare_view_and_plot_on_eval_output(tiny_model_dir, tmp_path):
    first, second = tmp_path / "greedy", tmp_path / "sampled"
    common = ["--episodes", "8"]
    assert runner.invoke(app, eval_args(tiny_model_dir, first, *common, "--temperature",
                                        "0")).exit_code == 0  # fmt: skip
    assert runner.invoke(app, eval_args(tiny_model_dir, second, *common)).exit_code == 0
    result = runner.invoke(app, ["compare", str(first / "report.json"),
                                 str(second / "report.json"), "--output",
                                 str(tmp_path / "cmp.md")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| environment | task type | greedy | sampled | sampled - greedy |" in result.stdout
    assert "pts (intervals overlap)" in result.stdout  # 8 episodes each: wide intervals
    assert (tmp_path / "cmp.md").read_text() == result.stdout
    result = runner.invoke(app, ["view", str(first / "report.json")])
    assert result.exit_code == 0, result.output
    page = (first / "viewer.html").read_text()
    assert "<script" in page and "http://" not in page and "https://" not in page
    result = runner.invoke(app, ["plot", str(second)])
    assert result.exit_code == 0 and (second / "success_by_task_type.png").exists()


def test_plot_draws_a_runs_training_curves(tmp_path):
    rows = [{"iteration": i, "rollout/success_rate": i / 10, "policy/entropy": 1 - i / 20,
             "loss/clip_fraction": 0.1, "time/tokens_per_s": 900.0 + i,
             "step_groups/mean_size": 2.0} for i in range(1, 8)]  # fmt: skip
    rows.insert(0, {"iteration": 0, "eval/success_rate": 0.05})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    image = matplotlib.image.imread(tmp_path / "training_curves.png")
    assert image.shape[1] > 3 * image.shape[0] / 2  # two rows of three panels: wider than tall


def test_eval_on_a_configs_env_block(tiny_model_dir, tmp_path):
    """``--config``: the env id, kwargs and held-out task range of a run config."""
    args = ["eval", "--checkpoint", str(tiny_model_dir), "--config", "configs/household.yaml",
            "--episodes", "2", "--mode", "choose", "--output", str(tmp_path / "r.json"),
            "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["environments"][HOUSEHOLD]["task_ids"] == {"start": 1_000_000, "stop": 1_000_002}
    assert report["results"][HOUSEHOLD]["episodes"] == 2
