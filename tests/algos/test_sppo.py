"""SPPO: the squared loss by hand, the loop on a real environment, and its config."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.agent import AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.algos.engine import TorchEngine
from turngym.algos.sppo import SPPO, SPPOConfig, sppo_loss
from turngym.config.run import ConfigError, PreferenceRunConfig, load_config
from turngym.rewards import RuleJudge

CHOOSE = AgentConfig(mode="choose")


def test_sppo_loss_by_hand():
    logratio = torch.tensor([0.3, -0.2, 0.0], requires_grad=True)
    win_rate = torch.tensor([0.75, 0.25, 0.5])
    loss = sppo_loss(logratio, win_rate, eta=2.0)
    # targets eta (P - 1/2) = 0.5, -0.5, 0
    assert loss.tolist() == pytest.approx([0.2**2, 0.3**2, 0.0])
    loss.sum().backward()
    assert logratio.grad.tolist() == pytest.approx([2 * (0.3 - 0.5), 2 * (-0.2 + 0.5), 0.0])


def test_sppo_hard_of_trl_is_the_pairwise_hard_label_case():
    """A winner and a loser with P = 1 and 0: (a - eta/2)^2 + (b + eta/2)^2, TRL's sppo_hard
    with beta = 1 / eta."""
    a, b, eta = torch.tensor(0.4), torch.tensor(-0.1), 4.0
    ours = sppo_loss(torch.stack([a, b]), torch.tensor([1.0, 0.0]), eta).sum()
    beta = 1 / eta
    assert ours.item() == pytest.approx(((a - 0.5 / beta) ** 2 + (b + 0.5 / beta) ** 2).item())


def test_an_iteration_moves_log_ratios_towards_the_win_rates(policy):
    model, tokenizer = policy
    config = SPPOConfig(tasks_per_iteration=4, samples_per_task=3, eta=4.0, epochs=4,
                        batch_size=12)  # fmt: skip
    with EnvPool("turngym/Household-v0", num_slots=12) as pool:
        sppo = SPPO(TorchEngine(model, 2e-4), tokenizer, RuleJudge(), pool, range(100), CHOOSE,
                    config)  # fmt: skip
        trajectories, rates = sppo.collect()
        assert len(trajectories) == 12 and len(set(rates)) > 1
        for k in range(4):  # each task's win rates (itself counting 1/2) average 1/2
            assert sum(rates[3 * k : 3 * k + 3]) / 3 == pytest.approx(0.5)
        with torch.no_grad():
            before = sppo.sequence_logps(trajectories)
        targets = torch.tensor(rates)
        start_loss = sppo_loss(torch.zeros(12), targets, 4.0).mean().item()
        metrics = sppo.update(trajectories, rates)
        with torch.no_grad():
            logratio = sppo.sequence_logps(trajectories) - before
        assert sppo_loss(logratio, targets, 4.0).mean().item() < start_loss
        assert metrics["sppo/logratio_win_rate_corr"] > 0
        assert sppo.step()["sppo/trajectories"] == 12
    with pytest.raises(ValueError, match="samples_per_task must be >= 2"):
        SPPO(TorchEngine(model), tokenizer, RuleJudge(), None, range(10), CHOOSE,
             SPPOConfig(samples_per_task=1))  # fmt: skip


def test_sppo_is_selected_by_config_and_refuses_other_modes_keys():
    config = load_config(None, ["mode=sppo", "sppo.eta=3"], PreferenceRunConfig)
    assert config.sppo.eta == 3 and config.mode == "sppo"
    with pytest.raises(ConfigError, match="sppo block is read only with mode: sppo"):
        load_config(None, ["sppo.eta=3"], PreferenceRunConfig)
    with pytest.raises(ConfigError, match="remove algo.loss"):
        load_config(None, ["mode=sppo", "algo.loss=dpo"], PreferenceRunConfig)
    with pytest.raises(ConfigError, match="sppo.samples_per_task"):
        load_config(None, ["mode=sppo", "sppo.samples_per_task=1"], PreferenceRunConfig)
