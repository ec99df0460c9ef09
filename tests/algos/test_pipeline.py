"""Pipelines: config mistakes inside stages, the stage registry, rejection sampling's filter,
and a real pipeline killed mid-stage and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.pipeline import STAGE_RUNNERS, check_registries, markdown_table
from turngym.algos.pipeline_stages import kept_episodes
from turngym.cli import app
from turngym.config.pipeline import STAGE_CONFIGS, KeepFilter, PipelineConfig
from turngym.config.run import ConfigError, load_config

SMALL_PIPELINE = {
    "env": {"id": "turngym/Household-v0", "max_episode_steps": 10},
    "model": {"name_or_path": "tiny"},
    "agent": {"mode": "choose"},
    "run": {"eval_episodes": 16, "progress": False, "torch_threads": 1},
    "stages": [
        {"name": "sft", "kind": "sft", "expert_tasks": 60, "training": {"epochs": 4}},
        {"name": "rl", "kind": "rl", "config": {
            "rollout": {"tasks_per_iteration": 2, "group_size": 4},
            "algo": {"learning_rate": 2e-4, "epochs": 1},
            "train": {"iterations": 6, "eval_every": 0, "eval_episodes": 2,
                      "checkpoint_every": 1}}},
        {"name": "rejection", "kind": "rejection_sampling", "tasks": 8, "samples_per_task": 2,
         "keep": {"won": True, "max_per_task": 1}, "training": {"epochs": 1}},
        {"name": "dpo", "kind": "preference", "config": {
            "pairs": {"sources": ["expert_vs_sampled", "best_vs_worst"], "tasks": 6,
                      "samples_per_task": 2},
            "algo": {"loss": "dpo", "epochs": 1}, "train": {"eval_episodes": 2}}},
    ],
}  # fmt: skip


def write_config(tmp_path: Path, tree: dict = SMALL_PIPELINE) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_every_stage_kind_has_a_config_schema_and_a_runner():
    assert check_registries() == []
    assert {"sft", "rl", "preference", "rejection_sampling"} <= set(STAGE_CONFIGS)
    assert set(STAGE_CONFIGS) == set(STAGE_RUNNERS)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "stages.rl.config.algo.lerning_rate=1",
            r"stages\[1\] \(rl\)\.config\.algo\.lerning_rate"
            ": unknown key; allowed here: advantage",
        ),
        ("stages.sft.expert_taks=3", r"stages\[0\] \(sft\)\.expert_taks: unknown key"),
        ("stages.0.training.epochs=0", r"stages\[0\] \(sft\)\.training\.epochs: Input should be"),
        ("stages.rl.config.env={id: x}", r"config\.env: the pipeline's env block is shared"),
        ("stages.dpo.config.train.seed=3", r"config\.train\.seed: set by the pipeline"),
        (
            "stages.dpo.config.mode=sppo",
            r"stages\[3\] \(dpo\)\.config: mode: sppo reads only.*remove algo.epochs",
        ),
        ("stages.rejection.keep.min_score=1", r"keep: scorer and min_score go together"),
        ("stages.sft.kind=reward_modl", r"unknown stage kind 'reward_modl'; registered"),
        ("stages.rl.name=sft", r"stage names \['sft'\] appear more than once"),
        ("stages.rl.name=r/l", r"stages\[1\] \(r/l\)\.name: use letters"),
        ("stages.nope.kind=sft", r"stages\.nope names no item of the list.*'sft', 'rl'"),
        ("run.resum=true", r"run\.resum: unknown key; allowed here: eval_episodes"),
        ("stages.rejection.keep={scorer: {name: kl}, min_score: 0}", r"needs \['turn_kl'\]"),
        ("run.overwrite=true", r"run.resume and run.overwrite ask for opposite things"),
    ],
)
def test_config_mistakes_inside_stages_name_the_field(tmp_path, override, message):
    extra = ["run.resume=true"] if override.startswith("run.overwrite") else []
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path), [override, *extra], PipelineConfig)


def test_stage_overrides_by_name_and_the_nested_run_config(tmp_path):
    config = load_config(write_config(tmp_path), ["stages.rl.config.train.iterations=2",
                                                  "run.seed=5"], PipelineConfig)  # fmt: skip
    rl = config.stages[1]
    run = rl.run_config(config, "some/checkpoint", "out/rl", seed=6)
    assert run.train.iterations == 2 and run.model.name_or_path == "some/checkpoint"
    assert run.env.max_episode_steps == 10 and run.agent.mode == "choose"
    assert (run.train.output_dir, run.train.seed, run.rollout.group_size) == ("out/rl", 6, 4)
    assert type(config.model_dump()["stages"][2]["keep"]) is dict  # each stage dumps in full


def trajectory(group: str, won: bool, length: int) -> Trajectory:
    turns = [Turn("o", [1], [2], [0.0], "a", 0.0, True) for _ in range(length)]
    return Trajectory(f"{group}-{won}-{length}", group, "env", 0, 0, turns=turns, won=won)


def test_rejection_filter_keeps_the_best_won_episodes_per_task():
    episodes = [trajectory("a", True, 5), trajectory("a", True, 3), trajectory("a", False, 2),
                trajectory("b", False, 4), trajectory("c", True, 6)]  # fmt: skip
    kept, scores = kept_episodes(episodes, KeepFilter(won=True, max_per_task=1))
    assert [t.episode_id for t in kept] == ["a-True-3", "c-True-6"] and scores[2] == 0.0
    two, _ = kept_episodes(episodes, KeepFilter(won=False, max_per_task=2))
    assert [t.episode_id for t in two] == ["a-True-3", "a-True-5", "b-False-4", "c-True-6"]
    # a scorer threshold: the format scorer gives 1 per turn whose reply has <action>...</action>
    for t in episodes:
        for turn in t.turns[:2]:
            turn.response_text = "<action>a</action>"
    keep = KeepFilter(won=False, scorer={"name": "format"}, min_score=2.0, max_per_task=5)
    scored, scores = kept_episodes(episodes, keep)
    assert scores == [2.0, 2.0, 2.0, 2.0, 2.0]
    keep = KeepFilter(won=False, scorer={"name": "format", "weight": 0.5}, min_score=1.5)
    assert kept_episodes(episodes, keep)[0] == []


def wait_for(condition, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the pipeline ended early:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_pipeline_resumes_at_the_stage_it_was_in(tmp_path):
    output = tmp_path / "run"
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "turngym.cli", "pipeline", str(config),
               f"run.output_dir={output}"]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "first.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True)  # fmt: skip
        rl_checkpoint = output / "stages" / "02_rl" / "checkpoints" / "iter_00002"
        try:
            wait_for(lambda: (rl_checkpoint / "trainer_state.pt").exists(), process, 600, log)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # killed inside the rl stage
            process.wait()
    state = json.loads((output / "pipeline_state.json").read_text())
    assert list(state["stages"]) == ["sft"] and state["running"] == "rl"
    sft_weights = output / "stages" / "01_sft" / "model.safetensors"
    sft_written = sft_weights.stat().st_mtime_ns

    runner = CliRunner()
    again = runner.invoke(app, ["pipeline", str(config), f"run.output_dir={output}"])
    assert again.exit_code == 2 and "run.resume=true" in again.output  # a new run refuses

    resumed = subprocess.run([*command, "run.resume=true"], capture_output=True, text=True,
                             env=environment, timeout=900)  # fmt: skip
    output_text = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output_text[-3000:]
    assert "stage sft (sft): finished before, not rerun" in output_text
    assert "stage rl (rl) from" in output_text and "(resuming)" in output_text
    assert "resuming from" in output_text and "iter_0000" in output_text  # the trainer's resume
    assert sft_weights.stat().st_mtime_ns == sft_written  # the finished stage was not rerun
    report = json.loads((output / "report.json").read_text())
    assert [row["stage"] for row in report["stages"]] == ["sft", "rl", "rejection", "dpo"]
    for previous, row in zip(report["stages"], report["stages"][1:], strict=False):
        assert row["success_before"] == previous["success_after"]  # the same held-out tasks
    assert report["initial"]["episodes"] == report["eval_episodes"] == 16
    assert report["stages"][0]["success_after"] > report["initial"]["success_rate"]
    assert report["final_checkpoint"] == str(output / "stages" / "04_dpo")
    assert (output / "stages" / "03_rejection" / "kept.parquet").is_file()
    assert markdown_table(report) in (output / "report.md").read_text()
    for name in ("sft", "rl", "rejection", "dpo"):
        assert name in output_text.split("held-out episodes of")[-1]  # the printed table

    # a finished stage whose config changed is refused on resume, naming it
    changed = runner.invoke(app, ["pipeline", str(config), f"run.output_dir={output}",
                                  "run.resume=true", "stages.sft.expert_tasks=61"])  # fmt: skip
    assert changed.exit_code == 2 and "stage 'sft' finished with a different config" in (
        changed.output
    )
