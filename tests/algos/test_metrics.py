"""The metrics logger's optional Weights & Biases mirror: used only when ``wandb`` imports and
``WANDB_PROJECT`` is set. wandb is not a dependency, so a stand-in module records the calls."""

from __future__ import annotations

import json
import sys

from turngym.algos.metrics import MetricsLogger, read_metrics

STAND_IN = """
calls = []

class Run:
    def log(self, row):
        calls.append(("log", row))

    def finish(self):
        calls.append(("finish", None))

def init(**kwargs):
    calls.append(("init", kwargs))
    return Run()
"""


def test_wandb_mirrors_the_scalars_when_installed_and_configured(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "wandb.py").write_text(STAND_IN)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    monkeypatch.setenv("WANDB_PROJECT", "turngym-test")
    logger = MetricsLogger(tmp_path / "run", tensorboard=False)
    logger.log(1, {"rollout/success_rate": 0.5, "loss/kl": float("nan"), "note": "text"})
    logger.close()
    import wandb

    assert wandb.calls == [
        ("init", {"project": "turngym-test", "name": "run", "dir": str(tmp_path / "run")}),
        ("log", {"rollout/success_rate": 0.5, "iteration": 1}),  # finite numbers only
        ("finish", None),
    ]
    assert read_metrics(tmp_path / "run" / "metrics.jsonl")[0]["loss/kl"] is None


def test_no_wandb_without_the_project_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.log(1, {"x": 1.0})
    logger.close()
    assert logger._wandb is None
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["x"] == 1.0
