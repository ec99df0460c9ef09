"""One run per folder: refusal, overwrite, resume after a kill, strict JSON metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from turngym.algos.metrics import MetricsLogger, read_metrics
from turngym.algos.trainer import Trainer
from turngym.common.run_folder import RunFolderError, latest_checkpoint, prepare_run_folder
from turngym.config.run import ConfigError, load_config

SMALL = [
    "rollout.tasks_per_iteration=2", "rollout.group_size=2", "algo.minibatch_size=16",
    "algo.epochs=1", "train.eval_every=0", "train.eval_episodes=2", "train.progress=false",
    "agent.mode=choose", "model.tiny.hidden_size=32", "model.tiny.intermediate_size=64",
    "model.tiny.num_layers=1", "model.tiny.vocab_size=300",
]  # fmt: skip


def config(output_dir, *extra):
    return load_config(None, [*SMALL, f"train.output_dir={output_dir}", *extra])


def test_a_new_run_refuses_a_folder_that_holds_one(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\n')
    with pytest.raises(RunFolderError, match="train.resume=true.*train.overwrite=true"):
        Trainer(config(tmp_path, "train.iterations=1"))
    assert (tmp_path / "metrics.jsonl").read_text() == '{"iteration": 1}\n'  # untouched


def test_overwrite_clears_the_old_run_first(tmp_path):
    (tmp_path / "checkpoints" / "iter_00099").mkdir(parents=True)
    (tmp_path / "checkpoints" / "iter_00099" / "trainer_state.pt").write_bytes(b"old")
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 99}\n')
    Trainer(config(tmp_path, "train.iterations=1", "train.overwrite=true")).train()
    assert latest_checkpoint(tmp_path).name == "iter_00001"
    assert 99 not in {row["iteration"] for row in read_metrics(tmp_path / "metrics.jsonl")}


def test_empty_or_missing_folders_and_files_as_folders(tmp_path):
    assert prepare_run_folder(tmp_path / "new", False, False) is None
    assert (tmp_path / "new").is_dir()
    assert prepare_run_folder(tmp_path / "new", False, False) is None  # empty is fine
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        prepare_run_folder(tmp_path / "afile", False, True)


def test_a_bad_resume_path_fails_at_config_time(tmp_path):
    with pytest.raises(ConfigError, match="train.resume.*not a checkpoint"):
        config(tmp_path, f"train.resume={tmp_path / 'nowhere'}")


def scalar_steps(folder, tag):
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def test_resume_after_a_kill_between_log_and_checkpoint_keeps_one_row_per_iteration(tmp_path):
    first = Trainer(config(tmp_path, "train.iterations=3", "train.checkpoint_every=1"))
    first.train_iteration(0)
    first.iteration = 1
    first.save_checkpoint()
    first.train_iteration(1)  # logged as iteration 2 ... and killed before its checkpoint
    first.close()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows if "rollout/success_rate" in r] == [1, 2]

    resumed = Trainer(config(tmp_path, "train.iterations=3", "train.resume=true"))
    assert resumed.resume_from.name == "iter_00001" and resumed.iteration == 1
    resumed.train()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows if "rollout/success_rate" in r] == [1, 2, 3]
    assert scalar_steps(tmp_path, "rollout/success_rate") == [1, 2, 3]


def test_resume_true_without_a_checkpoint_starts_over_cleanly(tmp_path):
    first = Trainer(config(tmp_path, "train.iterations=2"))
    first.train_iteration(0)  # killed before any checkpoint
    first.close()
    Trainer(config(tmp_path, "train.iterations=1", "train.resume=true")).train()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows if "rollout/success_rate" in r] == [1]


def test_metrics_are_strict_json(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.log(1, {"a": math.nan, "b": math.inf, "c": 0.5, "d": [1.0, -math.inf]})
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"bare {name}")) == {
        "iteration": 1, "a": None, "b": None, "c": 0.5, "d": [1.0, None],
    }  # fmt: skip


def test_a_kill_while_a_checkpoint_is_written_leaves_the_last_complete_one_to_resume(
    tmp_path, monkeypatch
):
    first = Trainer(config(tmp_path, "train.iterations=3"))
    first.train_iteration(0)
    first.iteration = 1
    first.save_checkpoint()
    first.train_iteration(1)
    first.iteration = 2

    save = torch.save

    def killed_while_writing_the_state(value, path, *args, **kwargs):
        if "trainer_state" not in str(path):
            return save(value, path, *args, **kwargs)
        Path(path).write_bytes(b"half a file")  # the process dies half-way through it
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_while_writing_the_state)
    with pytest.raises(KeyboardInterrupt):
        first.save_checkpoint()
    monkeypatch.undo()
    first.close()
    assert (tmp_path / "checkpoints" / "iter_00002" / "model.safetensors").is_file()
    assert latest_checkpoint(tmp_path).name == "iter_00001"  # the half-written one is passed over

    resumed = Trainer(config(tmp_path, "train.iterations=3", "train.resume=true"))
    assert resumed.resume_from.name == "iter_00001" and resumed.iteration == 1
    resumed.train()
    assert latest_checkpoint(tmp_path).name == "iter_00003"
