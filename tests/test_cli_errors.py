"""Every bad input to the CLI: one ``error:`` line on stderr, a non-zero exit, no traceback,
and no work done before the check."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest
from shared_data import ALFWORLD_ARCHIVE, unpack_alfworld_split
from typer.testing import CliRunner

from turngym.cli import app

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """A good checkpoint, one with a truncated weights file, and one with only config.json."""
    root = tmp_path_factory.mktemp("models")
    truncated = Path(shutil.copytree(tiny_model_dir, root / "truncated"))
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[:1000])
    config_only = root / "config_only"
    config_only.mkdir()
    shutil.copy(tiny_model_dir / "config.json", config_only)
    (root / "afile").write_text("not a folder")
    return {"good": tiny_model_dir, "truncated": truncated, "config_only": config_only,
            "afile": root / "afile"}  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def alfworld_kwargs(**extra) -> str:
    if not ALFWORLD_ARCHIVE.is_file():
        pytest.skip(f"ALFWorld games not available: {ALFWORLD_ARCHIVE} is absent")
    return json.dumps({"split": "valid_seen", "data_dir": str(unpack_alfworld_split()), **extra})


HOUSEHOLD = "configs/household.yaml"
CASES = {  # name: (arguments, with {good}, {out}, ... filled in; a fragment the line must hold)
    "truncated weights": (["eval", "--checkpoint", "{truncated}", "--env",
                           "turngym/Household-v0"], "Error while deserializing header"),
    "only config.json": (["eval", "--checkpoint", "{config_only}", "--env",
                          "turngym/Household-v0"], "no weights in the folder"),
    "missing model": (["train", HOUSEHOLD, "model.name_or_path=/no/such/model",
                       "train.output_dir={out}"], "'/no/such/model': no such folder"),
    "play task -1": (["play", "turngym/Household-v0", "--task-id", "-1"], "task_id=-1"),
    "play unknown kwarg": (["play", "turngym/Household-v0", "--env-kwargs", '{"colour": 1}'],
                           "takes no keyword 'colour'"),
    "env.kwargs typo": (["train", HOUSEHOLD, "env.kwargs.num_distractor=2",
                         "train.output_dir={out}"], "env.kwargs: turngym/Household-v0 takes no"),
    "build-tiny unknown env": (["build-tiny", "{out}", "--env-id", "turngym/Nope-v0"],
                               "unknown env id 'turngym/Nope-v0'"),
    "build-tiny into a file": (["build-tiny", "{afile}"], "is a file"),
    "bad resume path": (["train", HOUSEHOLD, "train.resume=/no/such/run",
                         "train.output_dir={out}"], "train.resume"),
    "chat judge down": (["preference", "configs/online_dpo.yaml", "online.judge.kind=chat",
                         "online.judge.base_url=http://127.0.0.1:{port}/v1",
                         "online.judge.model=judge", "train.output_dir={out}"], "not reachable"),
    "yaml syntax": (["train", "{bad_yaml}"], "bad.yaml, line 3, column 1 is not valid YAML"),
    "eval --output is a folder": (["eval", "--checkpoint", "{good}", "--env",
                                   "turngym/Household-v0", "--output", "{out}"], "is a folder"),
    "unknown env id": (["eval", "--checkpoint", "{good}", "--env", "turngym/Nope-v0"],
                       "unknown env id"),
    "missing --import": (["play", "turngym/GuessNumber-v0", "--import", "no_such_module"],
                         "cannot import 'no_such_module'"),
    "tasks past num_tasks": (["train", HOUSEHOLD, "env.imports=[{guess_module}]",
                              "env.id=turngym/GuessNumber-v0", "train.output_dir={out}"],
                             "do not fit turngym/GuessNumber-v0, which has 10 tasks"),
    "alfworld split nonsense": (["eval", "--checkpoint", "{good}", "--env",
                                 "turngym/ALFWorld-v0", "--env-kwargs", "ALFWORLD:split=nonsense"],
                                "choose one of ['train', 'valid_seen'"),
    "alfworld unknown kwarg": (["eval", "--checkpoint", "{good}", "--env", "turngym/ALFWorld-v0",
                                "--env-kwargs", "ALFWORLD:splitt=valid_seen"],
                               "takes no keyword 'splitt'"),
    "alfworld tasks past the split": (["eval", "--checkpoint", "{good}", "--env",
                                       "turngym/ALFWorld-v0", "--env-kwargs", "ALFWORLD:",
                                       "--task-start", "135", "--episodes", "10"],
                                      "has 140 tasks"),
    "alfworld without data": (["eval", "--checkpoint", "{good}", "--env", "turngym/ALFWorld-v0",
                               "--env-kwargs", '{"split": "valid_seen", "data_dir": "{out}"}'],
                              "no ALFWorld games for split 'valid_seen'"),
    "eval missing checkpoint": (["eval", "--checkpoint", "/no/such/model", "--env",
                                 "turngym/Household-v0"], "/no/such/model: no such folder"),
    "eval no model": (["eval", "--env", "turngym/Household-v0"], "give --checkpoint"),
    "eval endpoint down": (["eval", "--endpoint", "http://127.0.0.1:{port}/v1", "--env",
                            "turngym/Household-v0"], "/models is not reachable"),
    "eval endpoint, unknown env": (["eval", "--endpoint", "http://127.0.0.1:{port}/v1", "--env",
                                    "turngym/Nope-v0"], "unknown env id"),
    "eval --output-dir is a file": (["eval", "--checkpoint", "{good}", "--env",
                                     "turngym/Household-v0", "--output-dir", "{afile}"],
                                    "is a file"),
    "eval --config typo": (["eval", "--checkpoint", "{good}", "--config", "{bad_env_yaml}"],
                           "env.kwargs: turngym/Household-v0 takes no"),
    "compare another version": (["compare", "{old_report}", "{old_report}"],
                                "format 'turngym-eval-report/0' (turngym 0.0.1)"),
    "compare one report": (["compare", "{old_report}"], "two or more reports"),
    "view nothing there": (["view", "{out}"], "holds no episodes"),
    "view missing": (["view", "/no/such/run"], "no such run folder"),
    "plot nothing there": (["plot", "{out}"], "no metrics.jsonl"),
}  # fmt: skip


@pytest.fixture(scope="module")
def guess_module(tmp_path_factory) -> Path:
    """The README's custom environment as a module of its own (without its demo lines)."""
    text = README.read_text()
    code = re.search(r"<!-- example: custom-env -->\s*```python\n(.*?)```", text, re.S).group(1)
    code = code.split("\nenv = gym.make(")[0]
    path = tmp_path_factory.mktemp("user_module") / "guess_number_env.py"
    path.write_text(code)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_gives_one_error_line(case, models, guess_module, tmp_path):
    arguments, fragment = CASES[case]
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("env:\n  id: [turngym/Household-v0\n")
    bad_env_yaml = tmp_path / "bad_env.yaml"
    bad_env_yaml.write_text("env:\n  id: turngym/Household-v0\n  kwargs: {colour: 1}\n")
    old_report = tmp_path / "old_report.json"
    old_report.write_text(
        json.dumps({"format": "turngym-eval-report/0", "turngym_version": "0.0.1", "results": {}})
    )
    out = tmp_path / "out"
    out.mkdir()
    fill = {**{k: str(v) for k, v in models.items()}, "out": str(out), "port": closed_port(),
            "bad_yaml": str(bad_yaml), "guess_module": str(guess_module),
            "bad_env_yaml": str(bad_env_yaml), "old_report": str(old_report)}  # fmt: skip
    args = []
    for argument in arguments:
        if argument.startswith("ALFWORLD:"):
            key, _, value = argument.removeprefix("ALFWORLD:").partition("=")
            argument = alfworld_kwargs(**({key: value} if key else {}))
        for key, value in fill.items():
            argument = argument.replace(f"{{{key}}}", str(value))
        args.append(argument)
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output and "error:" not in result.stdout
    assert not any(out.iterdir()), "work was done before the check"


def test_eval_output_into_a_missing_folder_creates_it(models, tmp_path):
    report = tmp_path / "new" / "folder" / "report.json"
    result = runner.invoke(app, ["eval", "--checkpoint", str(models["good"]), "--env",
                                 "turngym/Household-v0", "--episodes", "2",
                                 "--output", str(report)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["results"]["turngym/Household-v0"]["episodes"] == 2


def test_the_readme_custom_env_trains_and_evaluates_from_the_cli(guess_module, tmp_path):
    """``env.imports`` / ``--import`` bring a user's module in, also in worker processes."""
    module = guess_module
    out = tmp_path / "run"
    args = ["train", HOUSEHOLD, f"env.imports=[{module}]", "env.id=turngym/GuessNumber-v0",
            "env.train_tasks.stop=8", "env.eval_tasks.start=8", "env.eval_tasks.stop=10",
            "train.eval_episodes=2", "train.iterations=1", "rollout.tasks_per_iteration=2",
            "rollout.group_size=2", "rollout.num_workers=1", "rollout.num_slots=2",
            "model.tiny.hidden_size=32", "model.tiny.intermediate_size=64",
            "model.tiny.num_layers=1", "model.tiny.vocab_size=300", "train.progress=false",
            f"train.output_dir={out}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(row.get("rollout/episodes") == 4 and row.get("rollout/env_errors") == 0
               for row in rows)  # fmt: skip
    checkpoint = out / "checkpoints" / "iter_00001"
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--env",
                                 "turngym/GuessNumber-v0", "--import", str(module),
                                 "--workers", "1", "--episodes", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["results"]["turngym/GuessNumber-v0"]
    assert report["episodes"] == 2 and report["env_errors"] == 0
