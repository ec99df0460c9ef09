"""configs/math_grpo.yaml: it loads, its scorers build, and a miniature of it runs end to end in
generate mode (warm start on worked solutions, GRPO with the math and think_answer scorers)."""

from __future__ import annotations

import pytest

from turngym.algos.metrics import read_metrics
from turngym.algos.trainer import Trainer
from turngym.config.run import ConfigError, load_config

CONFIG = "configs/math_grpo.yaml"


def test_the_math_config_loads_with_the_same_problems_for_env_and_scorer():
    config = load_config(CONFIG)
    assert config.env.id == "turngym/Math-v0" and config.agent.mode == "generate"
    math = next(s for s in config.reward.scorers if s.name == "math")
    assert math.options == config.env.kwargs  # one YAML anchor
    with pytest.raises(ConfigError, match="scorer 'math'"):
        load_config(CONFIG, ["reward.scorers=[{name: math, options: {sourse: gsm8k}}]"])


@pytest.mark.slow
def test_a_miniature_math_run_trains_and_scores(tmp_path):
    overrides = [
        "rollout.tasks_per_iteration=2", "rollout.group_size=4", "train.iterations=1",
        "train.eval_every=0", "train.eval_episodes=4", "train.progress=false",
        "warm_start.expert_tasks=8", "warm_start.epochs=1", "agent.max_new_tokens=8",
        f"train.output_dir={tmp_path}",
    ]  # fmt: skip
    result = Trainer(load_config(CONFIG, overrides)).train()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    trained = [r for r in rows if "reward/math" in r]
    assert len(trained) == 1 and "reward/think_answer" in trained[0]
    assert rows[1]["warm_start/expert_success_rate"] == 1.0  # the worked solutions verify
    assert result["after"]["episodes"] == 4
