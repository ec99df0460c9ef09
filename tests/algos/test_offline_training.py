"""Offline training: expert demonstrations, behaviour cloning, preference steps, checkpoints."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.algos.behaviour_cloning import sft
from turngym.algos.demonstrations import expert_trajectories
from turngym.algos.engine import TorchEngine
from turngym.algos.pairs import expert_pairs, mismatched, turn_samples
from turngym.algos.preference import DMPOConfig, dmpo, dpo
from turngym.algos.preference_batches import (
    kto_batch,
    preference_batch,
    tdpo_batch,
    trajectory_logprobs,
)
from turngym.algos.preference_training import train_preference
from turngym.algos.registry import PREFERENCE_LOSSES
from turngym.algos.samples import sample_logprobs
from turngym.common.run_folder import METRICS_FILE

ENV_ID = "turngym/Household-v0"


def expert_demos(agent, task_ids, env_id=ENV_ID, **pool_options):
    """The environment's expert on ``task_ids``, through an expert pool."""
    with EnvPool(env_id, expert=True, **pool_options) as pool:
        return expert_trajectories(agent, pool, task_ids)


CHOOSE = AgentConfig(mode="choose")


@pytest.fixture(scope="module")
def pairs(tiny_model_dir):
    """Expert vs sampled pairs on 4 tasks, sampled by the untrained tiny policy."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    agent = Agent(make_backend(model=model, tokenizer=tokenizer), tokenizer, CHOOSE, seed=0)
    experts = expert_demos(agent, [0, 1, 2, 3])
    with EnvPool(ENV_ID, num_slots=8) as pool, torch.no_grad():
        sampled = run_episodes(agent, pool, group_episodes([0, 1, 2, 3], 2))
    built = expert_pairs(experts, sampled)
    assert len(built) >= 4
    return built


def test_expert_trajectories_win_and_encode_the_choice(policy) -> None:
    model, tokenizer = policy
    agent = Agent(None, tokenizer, CHOOSE)
    demos = expert_demos(agent, list(range(5)))
    assert all(d.won and d.return_ == 1.0 and d.length <= 6 for d in demos)
    for turn in (turn for d in demos for turn in d.turns):
        assert turn.admissible_actions[turn.chosen_index] == turn.action
        assert turn.response_ids == agent.encode_action(turn.action)
        assert turn.candidate_ids[turn.chosen_index] == turn.response_ids
    generate = expert_demos(Agent(None, tokenizer, AgentConfig()), [0])[0]
    assert tokenizer.decode(generate.turns[0].response_ids, skip_special_tokens=True) == (
        f"<action>{generate.turns[0].action}</action>"
    )


def test_expert_demonstrations_are_the_same_in_worker_processes(policy) -> None:
    """The one rollout path: the expert is asked where the environment runs."""
    _, tokenizer = policy
    agent = Agent(None, tokenizer, CHOOSE)
    local = expert_demos(agent, [3, 4])
    workers = expert_demos(agent, [3, 4], num_workers=2, num_slots=2)
    assert [t.to_dict() for t in local] == [t.to_dict() for t in workers]
    with EnvPool(ENV_ID) as plain, pytest.raises(ValueError, match="expert=True"):
        expert_trajectories(agent, plain, [0])


def expert_choice_logprob(model, tokenizer, demos, config: AgentConfig) -> float:
    samples = [s for d in demos for s in turn_samples(d)]
    with torch.no_grad():
        units = sample_logprobs(model, samples, config.mode, 1.0, tokenizer.pad_token_id)
    return torch.cat(units).mean().item()


@pytest.mark.parametrize("mode", ["choose", "generate"])
def test_sft_raises_the_logprob_of_expert_actions(policy, mode: str) -> None:
    model, tokenizer = policy
    config = AgentConfig(mode=mode)
    demos = expert_demos(Agent(None, tokenizer, config), list(range(6)))
    before = expert_choice_logprob(model, tokenizer, demos, config)
    metrics = sft(TorchEngine(model, 3e-3), tokenizer, demos, config, epochs=4, batch_size=16)
    after = expert_choice_logprob(model, tokenizer, demos, config)
    assert after > before + 0.1, (before, after)
    assert metrics["sft/loss_last"] < metrics["sft/loss_first"]
    assert metrics["sft/examples"] == sum(d.length for d in demos)


def test_step_logprobs_sum_turns_and_tag_them(policy, pairs) -> None:
    model, tokenizer = policy
    sides = [pairs[0].chosen, pairs[0].rejected]
    values, mask, turn_index = trajectory_logprobs(model, tokenizer, sides, CHOOSE)
    for row, side in enumerate(sides):
        assert mask[row].sum() == side.length  # one unit (the choice) per turn in choose mode
        assert turn_index[row, : side.length].tolist() == list(range(side.length))
        per_turn = sample_logprobs(model, turn_samples(side), "choose", 1.0, 0)
        assert torch.allclose(values[row, : side.length], torch.cat(per_turn), atol=1e-5)


@pytest.mark.parametrize(
    "loss, loss_fn, shape",
    [("dpo", dpo, "step"), ("dmpo", dmpo, "step"), ("dmpo", dmpo, "conversation")],
)
def test_a_preference_step_raises_the_margin(policy, pairs, loss, loss_fn, shape) -> None:
    model, tokenizer = policy
    reference = copy.deepcopy(model).requires_grad_(False)
    with torch.no_grad():
        ref = [
            trajectory_logprobs(reference, tokenizer, [p.chosen, p.rejected], CHOOSE, shape)
            for p in pairs
        ]

    def margin() -> float:
        with torch.no_grad():
            batch = preference_batch(model, tokenizer, pairs, ref, CHOOSE, shape)
            _, metrics = loss_fn(batch, DMPOConfig() if loss == "dmpo" else None)
        return (metrics["chosen_rewards"] - metrics["rejected_rewards"]).mean().item()

    assert margin() == pytest.approx(0.0, abs=1e-5)  # the policy starts as the reference
    metrics = train_preference(
        TorchEngine(model, 1e-3), tokenizer, pairs, CHOOSE, loss=loss, reference=reference,
        shape=shape,
        batch_size=len(pairs), 
    )  # fmt: skip
    assert metrics[f"{loss}/steps"] == 1
    assert margin() > 1e-3


def test_preference_checkpoint_loads_with_transformers(policy, pairs, tmp_path) -> None:
    model, tokenizer = policy
    train_preference(
        TorchEngine(model), tokenizer, pairs[:2], CHOOSE, loss="dpo", output_dir=tmp_path / "ckpt"
    )
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")
    assert AgentConfig.load(tmp_path / "ckpt") == CHOOSE
    assert (tmp_path / "ckpt" / METRICS_FILE).exists()
    AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    ids = torch.tensor([pairs[0].chosen.turns[0].prompt_ids])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=1e-6)


def log_ratio_margin(model, reference, tokenizer, pairs, shape="step") -> float:
    """mean_i [log pi/pi_ref (y_w^i) - log pi/pi_ref (y_l^i)], unit log-probs summed."""
    sides = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    with torch.no_grad():
        values, mask, _ = trajectory_logprobs(model, tokenizer, sides, CHOOSE, shape)
        ref_values, _, _ = trajectory_logprobs(reference, tokenizer, sides, CHOOSE, shape)
    ratio = ((values - ref_values) * mask).sum(dim=-1)
    return (ratio[: len(pairs)] - ratio[len(pairs) :]).mean().item()


@pytest.mark.parametrize(
    "loss, shape",
    [(name, "step") for name in sorted(PREFERENCE_LOSSES)]
    + [("kto", "conversation"), ("tdpo2", "conversation")],
)
def test_every_preference_loss_trains_and_raises_the_margin(policy, pairs, loss, shape) -> None:
    model, tokenizer = policy
    reference = copy.deepcopy(model).requires_grad_(False)
    metrics = train_preference(
        TorchEngine(model, 1e-3), tokenizer, pairs, CHOOSE, loss=loss, shape=shape,
        batch_size=len(pairs), epochs=2,
    )  # fmt: skip
    assert metrics[f"{loss}/steps"] == 2
    assert log_ratio_margin(model, reference, tokenizer, pairs, shape) > 1e-3
    assert metrics[f"{loss}/reward_margin_last"] > 0


@pytest.mark.parametrize("shape", ["step", "conversation"])
def test_tdpo_batch_scores_units_and_their_sequential_kl(policy, pairs, shape) -> None:
    model, tokenizer = policy
    reference = copy.deepcopy(model)
    with torch.no_grad():
        batch = tdpo_batch(model, reference, tokenizer, pairs, CHOOSE, shape)
        chosen, mask, _ = trajectory_logprobs(model, tokenizer, [p.chosen for p in pairs],
                                              CHOOSE, shape)  # fmt: skip
    width = mask.shape[1]  # the batch is as wide as the longest side, chosen or rejected
    assert (
        torch.equal(batch.chosen_mask[:, :width], mask) and not batch.chosen_mask[:, width:].any()
    )
    assert torch.allclose(batch.policy_chosen[:, :width] * mask, chosen * mask, atol=1e-5)
    assert torch.allclose(batch.ref_chosen[:, :width] * mask, chosen * mask, atol=1e-5)
    assert batch.chosen_sequential_kl.abs().max() < 1e-5  # pi = pi_ref
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
        moved = tdpo_batch(model, reference, tokenizer, pairs, CHOOSE, shape)
    kl = moved.chosen_sequential_kl[moved.chosen_mask > 0]
    assert (kl > 0).all()  # a KL between distinct distributions, at every labelled unit
    assert (moved.chosen_sequential_kl[moved.chosen_mask == 0] == 0).all()


def test_kto_batch_unpairs_the_sides_and_shifts_responses_for_z0(policy, pairs) -> None:
    model, tokenizer = policy
    ref = [trajectory_logprobs(model, tokenizer, [p.chosen, p.rejected], CHOOSE) for p in pairs[:3]]
    with torch.no_grad():
        batch = kto_batch(model, model, tokenizer, pairs[:3], ref, CHOOSE)
    assert batch.desirable.tolist() == [True] * 3 + [False] * 3
    assert torch.allclose(batch.policy, batch.reference, atol=1e-5)
    sides = [p.chosen for p in pairs[:3]] + [p.rejected for p in pairs[:3]]
    shifted = [mismatched(sides[i], sides[(i + 1) % 6]) for i in range(6)]
    with torch.no_grad():
        expected, _, _ = trajectory_logprobs(model, tokenizer, shifted, CHOOSE)
    assert torch.allclose(batch.policy_kl, expected, atol=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_tr_dpo_moves_the_reference_towards_the_policy(policy, pairs, alpha) -> None:
    model, tokenizer = policy
    reference = copy.deepcopy(model)
    start = copy.deepcopy(model)
    train_preference(
        TorchEngine(model, 1e-3), tokenizer, pairs, CHOOSE, loss="dpo", reference=reference,
        batch_size=len(pairs), epochs=1, reference_sync_steps=1, reference_alpha=alpha,
    )  # fmt: skip
    for ref, new, old in zip(
        reference.parameters(), model.parameters(), start.parameters(), strict=True
    ):
        assert torch.allclose(ref, alpha * new + (1 - alpha) * old, atol=1e-6)
    assert not all(
        torch.equal(n, o) for n, o in zip(model.parameters(), start.parameters(), strict=True)
    )
