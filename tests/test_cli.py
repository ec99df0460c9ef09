import json
import math

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from turngym.algos.metrics import read_metrics
from turngym.cli import app
from turngym.envs.household import generate_room

runner = CliRunner()


def test_envs_lists_registered_ids():
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0 and "turngym/Household-v0" in result.output


def test_play_reads_actions_by_number_or_text():
    room = generate_room(3, 3, 5, 0)
    start = next(r for r in room.receptacles if room.target_object in room.contents[r])
    obj, goal = room.target_object, room.goal
    moves = [f"go to {start}", f"open {start}", f"take {obj} from {start}",
             f"go to {goal}", f"open {goal}", f"move {obj} to {goal}"]  # fmt: skip
    moves = [m for m in moves if not m.startswith("open ") or m[5:] in room.containers]
    moves[0] = str(1 + sorted(f"go to {r}" for r in room.receptacles).index(moves[0]))  # by number
    result = runner.invoke(app, ["play", "turngym/Household-v0", "--task-id", "3"],
                           input="\n".join(moves) + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"won after {len(moves)} steps, return 1" in result.output


def test_play_unknown_env_fails_with_the_known_ids():
    result = runner.invoke(app, ["play", "turngym/Nope-v0"])
    assert result.exit_code == 2 and "turngym/Household-v0" in result.output


def test_train_config_mistake_fails_before_any_work(tmp_path):
    result = runner.invoke(
        app,
        ["train", "configs/household.yaml", "algo.lerning_rate=1", f"train.output_dir={tmp_path}"],
    )
    assert result.exit_code == 2
    assert "algo.lerning_rate" in result.output and "learning_rate" in result.output
    assert not list(tmp_path.iterdir())


def test_train_then_eval_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["train", "configs/household.yaml", "train.iterations=1", "train.eval_episodes=4",
            "rollout.tasks_per_iteration=2", "rollout.group_size=2", "train.progress=false",
            f"train.output_dir={out}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "before training" in result.output
    checkpoint = out / "checkpoints" / "iter_00001"
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--env",
                                 "turngym/Household-v0", "--episodes", "5",
                                 "--output", str(report_path), "--output-dir",
                                 str(tmp_path / "eval")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "eval" / "training_curves.png").is_file()  # the run's, beside the report
    report = json.loads(report_path.read_text())["results"]["turngym/Household-v0"]
    assert report["episodes"] == 5 and 0 <= report["success_rate"] <= 1
    assert report["by_task_type"]["pick_and_place_simple"]["episodes"] == 5


def test_eval_rejects_a_folder_that_is_not_a_checkpoint(tmp_path):
    result = runner.invoke(
        app, ["eval", "--checkpoint", str(tmp_path), "--env", "turngym/Household-v0"]
    )
    assert result.exit_code == 2 and "save_pretrained" in result.output


def assert_eval_runs_on(checkpoint, report_path):
    """``turngym eval`` loads ``checkpoint`` and writes a 3-episode report."""
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--env",
                                 "turngym/Household-v0", "--episodes", "3",
                                 "--output", str(report_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["results"]["turngym/Household-v0"]["episodes"] == 3


TINY_PREFERENCE = [  # a 1-layer, 32-wide model and a handful of episodes: seconds of work
    "model.tiny.hidden_size=32", "model.tiny.intermediate_size=64", "model.tiny.num_layers=1",
    "model.tiny.vocab_size=300", "warm_start.expert_tasks=8", "pairs.tasks=6",
    "pairs.samples_per_task=2", "algo.epochs=1", "train.eval_episodes=6", "train.progress=false",
]  # fmt: skip


def test_preference_then_eval_the_checkpoint(tmp_path):
    out = tmp_path / "dmpo"
    args = ["preference", "configs/dmpo.yaml", *TINY_PREFERENCE, f"train.output_dir={out}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "success rate on 6 held-out episodes" in result.output
    assert "before -> " in result.output and "after warm start -> " in result.output
    assert "after dmpo" in result.output
    saved = json.loads((out / "result.json").read_text())
    assert {"before", "warm_start", "after"} <= saved.keys() and saved["metrics"]["pairs/count"] > 0
    assert_eval_runs_on(out, tmp_path / "report.json")


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("algo.dmpo.gama=0.5", ["algo.dmpo.gama", "unknown key", "gamma"]),
        ("algo.dmpo.gamma=1.5", ["algo.dmpo.gamma", "1.5"]),
    ],
)
def test_preference_config_mistake_exits_2_naming_the_field(tmp_path, override, fragments):
    result = runner.invoke(
        app, ["preference", "configs/dmpo.yaml", override, f"train.output_dir={tmp_path}"]
    )
    assert result.exit_code == 2
    assert all(fragment in result.output for fragment in fragments), result.output
    assert not list(tmp_path.iterdir())  # failed before any work


ONLINE = [  # 2 iterations of 8 tasks x 2 rollouts, 4 held-out episodes: seconds of work
    "online.iterations=2", "online.tasks_per_iteration=8", "online.eval_every=1",
    "train.eval_episodes=4", "train.progress=false",
]  # fmt: skip


@pytest.mark.parametrize(
    "judge", [["online.judge.kind=rule"], ["online.judge.kind=llm", "online.judge.model=policy"]]
)
def test_online_preference_then_eval_the_checkpoint(tmp_path, tiny_model_dir, judge):
    out = tmp_path / "online"
    args = ["preference", "configs/online_dpo.yaml", f"model.name_or_path={tiny_model_dir}",
            *ONLINE, *judge, f"train.output_dir={out}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    kind = judge[0].partition("=")[2]
    assert "before -> " in result.output and f"after online dpo ({kind} judge)" in result.output
    saved = json.loads((out / "result.json").read_text())
    assert {"before", "after"} <= saved.keys() and saved["after"]["episodes"] == 4
    metrics = saved["metrics"]
    assert metrics["online/iterations"] == 2 and metrics["online/episodes"] == 2 * 2 * 8
    assert metrics["judge/pairs"] + metrics["judge/ties"] == 2 * 8
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["iteration"] for r in rows if "judge/pairs" in r] == [1, 2]
    assert [r["iteration"] for r in rows if "eval/success_rate" in r] == [0, 1, 2]
    if kind == "llm":  # the policy's own copy judges: every pair decided, so the policy moved
        assert metrics["judge/ties"] == 0
        assert all(math.isfinite(r["judge/position_bias"]) for r in rows if "judge/pairs" in r)
        start, end = (load_file(str(d / "model.safetensors")) for d in (tiny_model_dir, out))
        assert any(not torch.equal(start[name], end[name]) for name in start)
    assert_eval_runs_on(out, tmp_path / "report.json")


@pytest.mark.parametrize(
    "config, override, fragments",
    [
        ("online_dpo", "online.judge.kind=llm", ["online.judge", "needs model", "'policy'"]),
        ("online_dpo", "online.judge.base_url=http://x", ["does not read base_url"]),
        ("online_dpo", "online.judge.kidn=llm", ["online.judge.kidn", "unknown key", "kind"]),
        ("online_dpo", "online.iterations=0", ["online.iterations", "greater than 0"]),
        ("online_dpo", "pairs.tasks=8", ["pairs.tasks is read only in offline mode"]),
        ("online_dpo", "mode=batch", ["mode", "'offline', 'online' or 'sppo'", "'batch'"]),
        ("dmpo", "online.iterations=3", ["online block is read only with mode: online"]),
    ],
)
def test_online_preference_config_mistake_exits_2_naming_the_field(
    tmp_path, config, override, fragments
):
    result = runner.invoke(
        app, ["preference", f"configs/{config}.yaml", override, f"train.output_dir={tmp_path}"]
    )
    assert result.exit_code == 2
    assert all(fragment in result.output for fragment in fragments), result.output
    assert not list(tmp_path.iterdir())  # failed before any work
