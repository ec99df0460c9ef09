"""Preference runs from a config: task splits and the judge that ``online.judge`` names."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.algos.preference_run import make_judge, split_train_tasks
from turngym.config.run import PreferenceRunConfig, load_config
from turngym.rewards import ChatCompletionsJudge, LLMJudge, RuleJudge

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def online_config(*overrides: str) -> PreferenceRunConfig:
    return load_config(CONFIGS / "online_dpo.yaml", list(overrides), PreferenceRunConfig)


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_warm_start_and_training_tasks_are_disjoint(mode):
    small = ["env.train_tasks.stop=50", "warm_start.expert_tasks=10"]
    if mode == "offline":
        config = load_config(CONFIGS / "dmpo.yaml", [*small, "pairs.tasks=30"], PreferenceRunConfig)
    else:
        config = online_config(*small, "online.tasks_per_iteration=8")
    warm, train = split_train_tasks(config)
    assert len(warm) == 10 and not set(warm) & set(train)
    assert len(train) == (30 if mode == "offline" else 40)  # online: every other train task
    assert set(warm) | set(train) <= set(range(50))
    assert split_train_tasks(config) == (warm, train)  # seeded


def test_each_judge_kind(tiny_model_dir, monkeypatch):
    policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert isinstance(make_judge(online_config().online.judge, policy, tokenizer), RuleJudge)

    settings = online_config("online.judge.kind=llm", "online.judge.model=policy",
                             "online.judge.tie_threshold=0.5").online.judge  # fmt: skip
    judge = make_judge(settings, policy, tokenizer)
    assert isinstance(judge, LLMJudge) and judge.backend.model is policy  # no second copy
    assert judge.tie_threshold == 0.5 and judge.max_prompt_tokens is not None

    settings = online_config("online.judge.kind=llm", f"online.judge.model={tiny_model_dir}")
    judge = make_judge(settings.online.judge, policy, tokenizer)
    assert isinstance(judge, LLMJudge) and judge.backend.model is not policy

    monkeypatch.setenv("TURNGYM_TEST_KEY", "secret")
    settings = online_config(
        "online.judge.kind=chat", "online.judge.base_url=http://localhost:8000/v1/",
        "online.judge.model=judge-7b", "online.judge.api_key_env=TURNGYM_TEST_KEY",
    ).online.judge  # fmt: skip
    judge = make_judge(settings, policy, tokenizer)
    assert isinstance(judge, ChatCompletionsJudge) and judge.client.api_key == "secret"
    assert judge.client.base_url == "http://localhost:8000/v1" and judge.model == "judge-7b"
