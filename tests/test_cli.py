import json

import pytest
from typer.testing import CliRunner

from turngym.algos.cli import app
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
        ["train", "configs/quickstart.yaml", "algo.lerning_rate=1", f"train.output_dir={tmp_path}"],
    )
    assert result.exit_code == 2
    assert "algo.lerning_rate" in result.output and "learning_rate" in result.output
    assert not list(tmp_path.iterdir())


def test_train_then_eval_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["train", "configs/quickstart.yaml", "train.iterations=1", "train.eval_episodes=4",
            "rollout.tasks_per_iteration=2", "rollout.group_size=2", "train.progress=false",
            f"train.output_dir={out}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "before training" in result.output
    checkpoint = out / "checkpoints" / "iter_00001"
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--env",
                                 "turngym/Household-v0", "--episodes", "5",
                                 "--output", str(report_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["episodes"] == 5 and 0 <= report["success_rate"] <= 1
    assert report["by_task_type"]["pick_and_place_simple"]["episodes"] == 5


def test_eval_rejects_a_folder_that_is_not_a_checkpoint(tmp_path):
    result = runner.invoke(
        app, ["eval", "--checkpoint", str(tmp_path), "--env", "turngym/Household-v0"]
    )
    assert result.exit_code == 2 and "save_pretrained" in result.output


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
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", "--checkpoint", str(out), "--env", "turngym/Household-v0",
                                 "--episodes", "3", "--output", str(report_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(report_path.read_text())["episodes"] == 3


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
