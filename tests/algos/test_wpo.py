"""WPO: pair weights worked out by hand from the module's equation, and in training."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.algos.engine import TorchEngine
from turngym.algos.pairs import group_pairs, turn_samples
from turngym.algos.preference_batches import wpo_log_weights
from turngym.algos.preference_training import train_preference
from turngym.algos.samples import sample_log_distributions
from turngym.algos.wpo import alignment_log_terms, pair_weights, response_log_weights
from turngym.config.run import ConfigError, PreferenceRunConfig, load_config

CHOOSE = AgentConfig(mode="choose")


def log(values: list[float]) -> torch.Tensor:
    return torch.tensor(values).log()


def test_alignment_terms_by_hand() -> None:
    distribution = log([[0.5, 0.25, 0.25], [0.9, 0.1, 0.0]])
    sampled = alignment_log_terms(distribution, "sampled").exp()
    assert sampled.tolist() == pytest.approx([0.25 + 0.0625 + 0.0625, 0.81 + 0.01])
    assert alignment_log_terms(distribution, "greedy").exp().tolist() == pytest.approx([0.5, 0.9])
    assert alignment_log_terms(distribution, "none").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="alignment='max'"):
        alignment_log_terms(distribution, "max")


def test_response_weight_is_the_length_normalised_aligned_probability() -> None:
    # y = two units with pi 0.5 and 0.25 where sum_v pi^2 = 0.375 each, then one padded unit
    logps = log([[0.5, 0.25, 1.0]])
    alignment = log([[0.375, 0.375, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    weight = response_log_weights(logps, alignment, mask).exp().item()
    assert weight == pytest.approx(math.sqrt(0.5 * 0.25) / 0.375)  # 0.9428
    # an empty response: log w = 0; the weight is detached
    assert response_log_weights(logps, alignment, torch.zeros(1, 3)).item() == 0.0
    grad_input = logps.clone().requires_grad_()
    assert not response_log_weights(grad_input, alignment, mask).requires_grad


def test_pair_weight_is_the_product_clamped_at_one() -> None:
    chosen, rejected = torch.tensor([0.9, 1.5]).log(), torch.tensor([0.5, 2.0]).log()
    assert pair_weights(chosen, rejected).tolist() == pytest.approx([0.45, 1.0])


@pytest.fixture(scope="module")
def sampled_pairs(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    agent = Agent(make_backend(model=model, tokenizer=tokenizer), tokenizer, CHOOSE, seed=0)
    with EnvPool("turngym/Household-v0", num_slots=16) as pool, torch.no_grad():
        sampled = run_episodes(agent, pool, group_episodes(list(range(8)), 2))
    pairs = group_pairs(sampled)
    assert pairs
    return pairs


def test_multi_turn_weight_averages_every_turn_of_the_trajectory(policy, sampled_pairs) -> None:
    """Choose mode: one unit per turn, v over that turn's admissible actions."""
    model, tokenizer = policy
    trajectory = sampled_pairs[0].chosen
    by_hand = []
    with torch.no_grad():
        for sample in turn_samples(trajectory):
            (distribution,) = sample_log_distributions(model, [sample], "choose")
            p = distribution[0].exp()
            by_hand.append(math.log(p[sample.chosen_index]) - math.log((p**2).sum()))
    (log_weight,) = wpo_log_weights(model, tokenizer, [trajectory], CHOOSE, "step", "sampled")
    assert log_weight.item() == pytest.approx(sum(by_hand) / len(by_hand), abs=1e-5)
    assert trajectory.length > 1


def test_wpo_training_weighs_each_pair_by_the_policy_at_that_step(policy, sampled_pairs) -> None:
    model, tokenizer = policy
    pair = sampled_pairs[0]
    log_w = wpo_log_weights(model, tokenizer, [pair.chosen, pair.rejected], CHOOSE, "step", "none")
    expected = min(1.0, log_w.sum().exp().item())
    summary = train_preference(TorchEngine(model, 1e-3), tokenizer, [pair], CHOOSE, loss="dpo",
                               batch_size=1, wpo_alignment="none")  # fmt: skip
    assert summary["wpo/pair_weight_mean"] == pytest.approx(expected, rel=1e-5)
    assert 0 < expected < 1  # the untrained policy finds its own episodes far from certain
    with pytest.raises(ValueError, match="unpaired"):
        train_preference(TorchEngine(model), tokenizer, [pair], CHOOSE, loss="kto",
                         wpo_alignment="sampled")  # fmt: skip


def test_wpo_is_selected_by_config() -> None:
    config = load_config(None, ["algo.pair_weighting=wpo", "algo.loss=ipo"], PreferenceRunConfig)
    assert config.algo.wpo_alignment == "sampled"
    assert load_config(None, [], PreferenceRunConfig).algo.wpo_alignment is None
    with pytest.raises(ConfigError, match="algo.wpo.alignment"):
        load_config(None, ["algo.pair_weighting=wpo", "algo.wpo.alignment=max"],
                    PreferenceRunConfig)  # fmt: skip
    with pytest.raises(ConfigError, match="unpaired"):
        load_config(None, ["algo.pair_weighting=wpo", "algo.loss=kto"], PreferenceRunConfig)
