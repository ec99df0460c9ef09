"""Online DPO from AI feedback: on-policy pairs, judged, one preference step per iteration."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from turngym.agents.agent import AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.algos.engine import TorchEngine
from turngym.algos.online_dpo import OnlineDPO, OnlineDPOConfig
from turngym.algos.pairs import PreferencePair
from turngym.algos.preference import DMPOConfig
from turngym.algos.preference_batches import trajectory_logprobs
from turngym.rewards import LLMJudge, RuleJudge, outcome_key

ENV_ID = "turngym/Household-v0"
CHOOSE = AgentConfig(mode="choose")


@pytest.fixture()
def pool():
    with EnvPool(ENV_ID, num_slots=16) as pool:
        yield pool


def logprob_margin(model, tokenizer, pairs: list[PreferencePair]) -> float:
    """mean over pairs of log pi(y_w) - log pi(y_l) (per-step shape, summed over turns)."""
    sides = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    with torch.no_grad():
        values, mask, _ = trajectory_logprobs(model, tokenizer, sides, CHOOSE)
    totals = (values * mask).sum(dim=1)
    return (totals[: len(pairs)] - totals[len(pairs) :]).mean().item()


def test_llm_judged_online_dpo_raises_the_margin_of_its_own_pairs(policy, pool, tiny_model_dir):
    model, tokenizer = policy
    judge = LLMJudge.from_pretrained(tiny_model_dir)  # a fixed annotator, separate from the policy
    config = OnlineDPOConfig(tasks_per_iteration=4)
    algo = OnlineDPO(TorchEngine(model, 1e-3), tokenizer, judge, pool, range(1000), CHOOSE, config)
    for iteration in range(2):
        before = copy.deepcopy(model)
        metrics = algo.step()
        pairs = algo.last.pairs
        assert metrics["iteration"] == iteration
        assert metrics["judge/pairs"] + metrics["judge/ties"] == 4
        assert len(pairs) == metrics["judge/pairs"] > 0  # tie threshold 0: ties are exact only
        assert all(p.chosen.task_id == p.rejected.task_id for p in pairs)
        assert math.isfinite(metrics["dpo/loss"]) and math.isfinite(metrics["judge/position_bias"])
        assert logprob_margin(model, tokenizer, pairs) > logprob_margin(before, tokenizer, pairs)
    # the reference stays the initial policy
    initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    for ref, start in zip(algo.reference.parameters(), initial.parameters(), strict=True):
        assert torch.equal(ref, start)


def test_rule_judged_pairs_agree_with_won(policy, pool) -> None:
    model, tokenizer = policy
    config = OnlineDPOConfig(tasks_per_iteration=16, loss="dmpo", loss_config=DMPOConfig())
    algo = OnlineDPO(
        TorchEngine(model, 1e-3), tokenizer, RuleJudge(), pool, range(1000), CHOOSE, config
    )
    history, pairs = [], []
    for _ in range(3):
        history.append(algo.step())
        pairs += algo.last.pairs
    assert sum(m["judge/pairs_differing_in_won"] for m in history) > 0
    for metrics in history:
        agreement = metrics["judge/agreement_with_won"]
        assert agreement == 1.0 or math.isnan(agreement)
        assert math.isnan(metrics["judge/position_bias"])  # a rule has no position bias
    assert pairs and all(outcome_key(p.chosen) > outcome_key(p.rejected) for p in pairs)
    assert any(math.isfinite(m["dmpo/loss"]) for m in history)


def test_same_seed_same_run(policy, pool, tiny_model_dir) -> None:
    runs = []
    for _ in range(2):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
        config = OnlineDPOConfig(tasks_per_iteration=8, seed=3)
        algo = OnlineDPO(
            TorchEngine(model, 1e-3), policy[1], RuleJudge(), pool, range(1000), CHOOSE, config
        )
        algo.step()
        runs.append(
            [t.episode_id + str([x.action for x in t.turns]) for t in algo.last.trajectories]
        )
    assert runs[0] == runs[1]


@pytest.mark.parametrize("loss", ["ipo", "tdpo1", "kto"])
def test_any_registered_preference_loss_by_name(policy, pool, loss) -> None:
    model, tokenizer = policy
    config = OnlineDPOConfig(tasks_per_iteration=16, loss=loss)
    algo = OnlineDPO(
        TorchEngine(model, 1e-3), tokenizer, RuleJudge(), pool, range(1000), CHOOSE, config
    )
    metrics = algo.step()
    assert metrics["judge/pairs"] > 0 and math.isfinite(metrics[f"{loss}/loss"])


def test_an_unknown_loss_fails_at_construction(policy, pool) -> None:
    model, tokenizer = policy
    with pytest.raises(KeyError, match="registered"):
        OnlineDPO(
            TorchEngine(model, 1e-3),
            tokenizer,
            RuleJudge(),
            pool,
            [0],
            CHOOSE,
            OnlineDPOConfig(loss="nope"),
        )
    with pytest.raises(ValueError, match="tasks_per_iteration=16"):
        OnlineDPO(
            TorchEngine(model, 1e-3),
            tokenizer,
            RuleJudge(),
            pool,
            range(8),
            CHOOSE,
            OnlineDPOConfig(),
        )
