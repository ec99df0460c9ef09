import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.trajectory import load_trajectories
from turngym.algos.critic import final_prompt_ids
from turngym.algos.losses import aggregate_loss, aggregation_denominator, per_sample_terms
from turngym.algos.metrics import read_metrics
from turngym.algos.registry import ADVANTAGE_ESTIMATORS, POLICY_LOSSES, advantage_needs
from turngym.algos.samples import StepSample, sample_logprobs, step_samples
from turngym.algos.trainer import Trainer
from turngym.common.run_folder import latest_checkpoint
from turngym.config.run import ConfigError, load_config

SMALL = [
    "rollout.tasks_per_iteration=2",
    "rollout.group_size=4",
    "algo.minibatch_size=16",
    "algo.epochs=1",
    "train.eval_every=0",
    "train.eval_episodes=6",
    "train.progress=false",
    "agent.mode=choose",
]


def small_config(output_dir, *extra):
    return load_config(None, [*SMALL, f"train.output_dir={output_dir}", *extra])


def weights(checkpoint):
    return load_file(str(checkpoint / "model.safetensors"))


def test_training_writes_checkpoints_metrics_and_tensorboard(tmp_path):
    result = Trainer(small_config(tmp_path, "train.iterations=2")).train()
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint.name == "iter_00002" and result["checkpoint"] == str(checkpoint)
    for name in ("model.safetensors", "tokenizer.json", "turngym_agent.json", "trainer_state.pt"):
        assert (checkpoint / name).exists()
    assert AutoModelForCausalLM.from_pretrained(checkpoint).config.model_type == "qwen2"
    rows = read_metrics(tmp_path / "metrics.jsonl")
    train_rows = [r for r in rows if "rollout/success_rate" in r]
    assert [r["iteration"] for r in train_rows] == [1, 2]
    assert all(r["rollout/episodes"] == 8 for r in train_rows)
    assert [r["iteration"] for r in rows if "eval/success_rate" in r] == [0, 2]
    training_view = ["rollout/success_rate", "rollout/mean_return", "rollout/invalid_action_rate",
                     "loss/approx_kl_old", "policy/entropy", "loss/clip_fraction",
                     "step_groups/mean_size", "time/tokens_per_s",
                     "time/env_steps_per_s"]  # fmt: skip
    # an iteration whose groups all tie takes no optimizer step, and logs no loss/* or policy/*
    assert all(any(key in row for row in train_rows) for key in training_view)
    assert all(row["time/tokens_per_s"] > row["time/env_steps_per_s"] > 0 for row in train_rows)
    for row in (r for r in rows if "eval/success_rate" in r):
        assert row["eval/success_rate_ci95_low"] <= row["eval/success_rate"]
        assert row["eval/success_rate"] <= row["eval/success_rate_ci95_high"]
    assert list((tmp_path / "tensorboard").iterdir())
    assert result["before"]["episodes"] == result["after"]["episodes"] == 6


@pytest.fixture()
def restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_resume_continues_exactly_where_it_stopped(tmp_path, restore_torch_threads):
    # bit-exact for a fixed thread count: with several, a loaded machine can change how BLAS
    # splits a reduction, and so the last bits of a sum
    one_thread = "train.torch_threads=1"
    straight = tmp_path / "straight"
    Trainer(
        small_config(straight, "train.iterations=4", "train.checkpoint_every=2", one_thread)
    ).train()
    interrupted = tmp_path / "interrupted"
    Trainer(small_config(interrupted, "train.iterations=2", one_thread)).train()
    resumed = Trainer(
        small_config(interrupted, "train.iterations=4", "train.resume=true", one_thread)
    )
    assert resumed.iteration == 2
    resumed.train()
    a = weights(straight / "checkpoints" / "iter_00004")
    b = weights(interrupted / "checkpoints" / "iter_00004")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = weights(straight / "checkpoints" / "iter_00002")
    assert not all(torch.equal(a[k], start[k]) for k in a)  # training did change the weights


def test_resume_from_a_folder_without_state_fails_at_config_time(tmp_path):
    with pytest.raises(ConfigError, match="train.resume.*no trainer_state.pt"):
        small_config(tmp_path, f"train.resume={tmp_path}")


def test_kl_term_and_generate_mode_train(tmp_path):
    trainer = Trainer(
        small_config(
            tmp_path,
            "train.iterations=1",
            "algo.kl_coef=0.1",
            "agent.mode=generate",
            "agent.max_new_tokens=8",
            "env.max_episode_steps=3",
        )  # fmt: skip
    )
    trainer.train()
    (row,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "loss/kl" in r]
    assert row["loss/kl"] >= 0 and row["rollout/mean_length"] == 3


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_an_update_moves_the_choice_probability_with_the_advantage(tmp_path, advantage):
    trainer = Trainer(small_config(tmp_path, "algo.learning_rate=0.003"))
    trajectories = run_episodes(trainer.agent, trainer.pool, group_episodes([1, 2, 3], 2, seed=3))
    states = {tuple(t.prompt_ids): t for traj in trajectories for t in traj.turns}
    samples = [
        StepSample(
            t.prompt_ids,
            t.candidate_ids[0],
            [0.0],
            advantage=advantage,
            candidate_ids=t.candidate_ids,
            chosen_index=0,
        )  # fmt: skip
        for t in list(states.values())[:16]
    ]
    with torch.no_grad():  # old log-probs = the current policy's, as right after a rollout
        before = torch.cat(sample_logprobs(trainer.model, samples, "choose"))
    for sample, value in zip(samples, before.tolist(), strict=True):
        sample.old_logprobs = [value]
    trainer.update(samples, seed=0)
    with torch.no_grad():
        after = torch.cat(sample_logprobs(trainer.model, samples, "choose"))
    assert ((after - before).mean() * advantage) > 0
    trainer.close()


def test_run_config_is_saved_for_eval(tmp_path):
    Trainer(small_config(tmp_path, "train.iterations=0")).train()
    saved = (tmp_path / "checkpoints" / "iter_00000" / "turngym_agent.json").read_text()
    assert json.loads(saved)["mode"] == "choose"


def run_one_iteration(tmp_path, advantage: str, policy_loss: str) -> dict:
    config = small_config(
        tmp_path,
        "train.iterations=1",
        f"algo.advantage={advantage}",
        f"algo.policy_loss={policy_loss}",
        "algo.entropy_coef=0.001",
    )  # fmt: skip  (a step even when every A is 0)
    Trainer(config).train()
    (row,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "rollout/episodes" in r]
    return row


@pytest.mark.parametrize("advantage", sorted(ADVANTAGE_ESTIMATORS))
def test_every_registered_estimator_trains(tmp_path, advantage):
    """The loop gives each estimator what it declared it needs (a critic, greedy baselines)."""
    row = run_one_iteration(tmp_path, advantage, "ppo_clip")
    assert row["step_groups/count"] >= 1 and np.isfinite(row["loss/total"])
    assert ("critic/loss" in row) == ("values" in advantage_needs(advantage))
    assert ("rollout/greedy_episodes" in row) == ("greedy_baseline" in advantage_needs(advantage))


@pytest.mark.parametrize("policy_loss", sorted(POLICY_LOSSES))
def test_every_registered_policy_loss_trains(tmp_path, policy_loss):
    row = run_one_iteration(tmp_path, "gigpo", policy_loss)
    assert np.isfinite(row["loss/policy"]) and 0 <= row["loss/clip_fraction"] <= 1


@pytest.mark.parametrize(
    "mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
)
def test_split_aggregation_equals_the_reference_aggregation(mode):
    torch.manual_seed(0)
    loss = torch.randn(4, 5)
    mask = torch.tensor(
        [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
    ).float()
    counts = [int(n) for n in mask.sum(-1)]
    width = mask.shape[-1]  # aggregate_loss's C without norm_constant: the padded length
    whole = per_sample_terms(loss, mask, mode).sum() / aggregation_denominator(
        counts, [1.0] * 4, mode, width
    )
    assert torch.allclose(whole, aggregate_loss(loss, mask, mode))
    # skipping a sample whose terms are 0 leaves the value unchanged
    loss[2] = 0
    kept = per_sample_terms(loss[[0, 1, 3]], mask[[0, 1, 3]], mode).sum()
    assert torch.allclose(
        kept / aggregation_denominator(counts, [1.0] * 4, mode, width),
        aggregate_loss(loss, mask, mode),
    )


def test_dynamic_sampling_keeps_only_groups_with_different_returns(tmp_path):
    trainer = Trainer(
        small_config(tmp_path, "rollout.dynamic_sampling=true", "rollout.max_sampling_rounds=4")
    )
    trajectories, stats = trainer.collect(iteration=0)
    groups = {}
    for t in trajectories:
        groups.setdefault(t.group_id, []).append(t.return_)
    assert len(groups) == stats["rollout/groups"] <= 2
    assert all(len(set(returns)) > 1 for returns in groups.values())
    assert 1 <= stats["rollout/sampling_rounds"] <= 4
    trainer.close()


OVERLONG_AND_KL = ("reward.scorers=[{name: env}, {name: overlong, weight: 0.5, options: "
                   "{buffer: 4}}, {name: kl, weight: 0.1}]")  # fmt: skip


def test_overlong_shaping_kl_in_reward_and_entropy_bonus(tmp_path):
    config = small_config(
        tmp_path, "train.iterations=1", "agent.mode=generate", "agent.max_new_tokens=8",
        "env.max_episode_steps=2", OVERLONG_AND_KL, "algo.entropy_coef=0.01",
        "algo.loss_aggregation=seq-mean-token-mean", "train.save_trajectories=true",
    )  # fmt: skip
    trainer = Trainer(config)
    trajectories, _ = trainer.collect(iteration=0)
    lengths = [len(turn.response_ids) for t in trajectories for turn in t.turns]
    rewards = [turn.reward for t in trajectories for turn in t.turns]
    reference = [torch.tensor(turn.response_logprobs) for t in trajectories for turn in t.turns]
    stats = trainer.score(trajectories, reference)  # the reference: the policy that acted
    expected = [0.5 * min(0.0, (4 - n) / 4) for n in lengths]  # L - C = 4
    assert stats["reward/overlong"] == pytest.approx(sum(expected) / len(expected))
    assert stats["reward/kl"] == pytest.approx(0.0)
    turns = [turn for t in trajectories for turn in t.turns]
    assert [turn.reward for turn in turns] == rewards  # the environment's, unchanged
    assert [turn.reward_terms["overlong"] for turn in turns] == pytest.approx(expected)
    trainer.close()
    config.train.overwrite = True  # the same folder again, for a run of its own
    Trainer(config).train()
    (row,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "reward/kl" in r]
    assert row["reward/kl"] == pytest.approx(0.0, abs=1e-4)  # policy == reference at the start
    assert "loss/kl" not in row and row["policy/entropy"] > 0
    assert row["reward/overlong"] <= 0 and "reward/env" in row
    saved = load_trajectories(tmp_path / "trajectories" / "iter_00001.parquet")
    assert all(
        set(turn.reward_terms) == {"env", "overlong", "kl"} for t in saved for turn in t.turns
    )
    assert all(turn.reward_terms["env"] == turn.reward for t in saved for turn in t.turns)


def test_ppo_with_a_learned_critic_fits_the_returns(tmp_path):
    trainer = Trainer(small_config(tmp_path, "train.iterations=1", "algo.advantage=gae"))
    trainer.train()
    (row,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "critic/loss" in r]
    state = torch.load(latest_checkpoint(tmp_path) / "trainer_state.pt", weights_only=False)
    assert state["critic"] is not None and state["critic_engine"] is not None
    trainer = Trainer(small_config(tmp_path / "again", "algo.advantage=gae"))
    trajectories, _ = trainer.collect(iteration=0)
    trajectories[0].turns[-1].reward = 1.0  # at least one rewarded turn, whatever was sampled
    advantages, targets = trainer.advantages(trajectories)
    flat = np.concatenate(advantages)
    # whitened over the batch with the unbiased variance (verl's masked_whiten)
    assert abs(flat.mean()) < 1e-6 and abs(flat.std(ddof=1) - 1) < 1e-3
    first = trainer.update_critic(trajectories, targets, iteration=0)["critic/loss"]
    later = [trainer.update_critic(trajectories, targets, i)["critic/loss"] for i in range(1, 4)]
    assert later[-1] < first  # regression on the same returns makes progress
    trainer.close()


@pytest.mark.parametrize("suffix", ["/greedy", "_argmax"])
def test_remax_adds_one_greedy_rollout_per_group(tmp_path, suffix):
    trainer = Trainer(
        small_config(tmp_path, "algo.advantage=remax", f"algo.remax.greedy_episode_suffix={suffix}")
    )
    trajectories, _ = trainer.collect(iteration=0)
    greedy = [t for t in trajectories if t.episode_id.endswith(suffix)]
    assert len(greedy) == 2 and len(trajectories) == 2 * 4 + 2
    assert {t.group_id for t in greedy} == {t.group_id for t in trajectories}
    advantages, _ = trainer.advantages(trajectories)
    for trajectory, advantage in zip(trajectories, advantages, strict=True):
        baseline = next(g.return_ for g in greedy if g.group_id == trajectory.group_id)
        expected = 0.0 if trajectory in greedy else trajectory.return_ - baseline
        assert np.allclose(advantage, expected)
    trainer.close()


def test_remax_rollout_metrics_count_only_the_sampled_rollouts(tmp_path):
    trainer = Trainer(small_config(tmp_path, "algo.advantage=remax"))
    collected, collect = [], trainer.collect
    trainer.collect = lambda iteration: collected.append(collect(iteration)) or collected[-1]
    metrics = trainer.train_iteration(0)
    trainer.close()
    (trajectories, _), greedy, sampled = collected[0], [], []
    for t in trajectories:
        (greedy if t.episode_id.endswith("/greedy") else sampled).append(t)
    assert len(greedy) == 2 and len(sampled) == 8
    for prefix, group in (("rollout/", sampled), ("rollout/greedy_", greedy)):
        assert metrics[f"{prefix}episodes"] == len(group)
        assert metrics[f"{prefix}success_rate"] == pytest.approx(np.mean([t.won for t in group]))
        assert metrics[f"{prefix}mean_return"] == pytest.approx(np.mean([t.return_ for t in group]))
        assert metrics[f"{prefix}mean_length"] == pytest.approx(np.mean([t.length for t in group]))
    (row,) = read_metrics(tmp_path / "metrics.jsonl")
    assert row["rollout/episodes"] == 8 and row["rollout/greedy_episodes"] == 2


def test_warm_start_clones_the_expert_before_rl(tmp_path):
    config = small_config(
        tmp_path, "train.iterations=0", "train.eval_episodes=40", "warm_start.expert_tasks=60",
        "warm_start.epochs=4",
    )  # fmt: skip
    result = Trainer(config).train()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    (sft_row,) = [r for r in rows if "sft/loss_first" in r]
    assert sft_row["warm_start/expert_success_rate"] == 1.0
    assert sft_row["sft/loss_last"] < sft_row["sft/loss_first"]
    evals = [r["eval/success_rate"] for r in rows if "eval/success_rate" in r]
    assert len(evals) == 2  # random init, then after the warm start (= after 0 RL iterations)
    assert (
        result["before"]["success_rate"] == evals[0] < evals[1] == result["after"]["success_rate"]
    )


def test_final_prompt_is_the_prompt_the_policy_would_see_next(tmp_path):
    config = small_config(tmp_path, "agent.mode=generate", "agent.max_new_tokens=4",
                          "agent.history=1", "env.max_episode_steps=3")  # fmt: skip
    trainer = Trainer(config)
    trajectories = run_episodes(trainer.agent, trainer.pool, group_episodes([1, 2], 2, seed=0))
    trainer.close()
    assert any(t.truncated and t.final_admissible_actions for t in trajectories)
    cuts = 0
    for trajectory in trajectories:
        for cut in range(1, trajectory.length):  # the trajectory as if it had stopped at `cut`
            nxt = trajectory.turns[cut]
            head = dataclasses.replace(trajectory, turns=trajectory.turns[:cut],
                                       final_observation=nxt.observation,
                                       final_admissible_actions=nxt.admissible_actions)  # fmt: skip
            assert final_prompt_ids(trainer.agent, head) == nxt.prompt_ids
            cuts += 1
    assert cuts > 0


@pytest.mark.parametrize("discount_per", ["turn", "token"])
def test_gae_bootstraps_truncated_episodes_in_the_trainer(tmp_path, discount_per):
    config = small_config(
        tmp_path, "algo.advantage=gae", f"algo.gae.discount_per={discount_per}",
        "algo.gae.gamma=1", "algo.gae.gae_lambda=1", "agent.mode=generate",
        "agent.max_new_tokens=6", "env.max_episode_steps=2",
    )  # fmt: skip
    trainer = Trainer(config)
    torch.nn.init.constant_(trainer.critic.head.bias, 0.5)  # V = 0.5 everywhere (zero weight)
    trajectories, _ = trainer.collect(iteration=0)
    assert any(t.truncated for t in trajectories)
    trajectories[0].turns[0].reward = 1.0  # at least one rewarded turn, whatever was sampled
    advantages, targets = trainer.advantages(trajectories)
    # gamma = lambda = 1: R = reward-to-go, + V(s_T) = 0.5 where the step cap cut the episode
    rows = iter(targets)
    for trajectory in trajectories:
        rewards = [turn.reward for turn in trajectory.turns]
        for t, turn in enumerate(trajectory.turns):
            expected = sum(rewards[t:]) + (0.5 if trajectory.truncated else 0.0)
            units = len(turn.response_ids) if discount_per == "token" else 1
            np.testing.assert_allclose(next(rows), [expected] * units, rtol=1e-5)
    samples = step_samples(trajectories, advantages)
    if discount_per == "token":
        assert all(len(s.unit_advantages) == len(s.response_ids) for s in samples)
    assert np.isfinite(trainer.update(samples, seed=0)["loss/total"])
    assert np.isfinite(trainer.update_critic(trajectories, targets, iteration=0)["critic/loss"])
    trainer.close()


def test_kl_in_the_reward_and_in_the_loss_is_bounded_k3(tmp_path):
    kl_in_reward = "reward.scorers=[{name: env}, {name: kl, weight: 0.1}]"
    trainer = Trainer(small_config(tmp_path, "algo.kl_coef=0.1", kl_in_reward))
    trajectories, _ = trainer.collect(iteration=0)
    before = np.array([turn.reward for t in trajectories for turn in t.turns])
    # log pi_ref - log pi = 26: k3 = e^20 - 21 before verl's bound of 10 (choose: 1 unit a turn)
    turns = [turn for t in trajectories for turn in t.turns]
    reference = [torch.tensor(turn.response_logprobs) + 26 for turn in turns]
    stats = trainer.score(trajectories, reference)
    after = np.array([turn.total_reward for t in trajectories for turn in t.turns])
    np.testing.assert_allclose(before - after, 0.1 * 10.0, rtol=1e-6)
    assert [turn.reward for turn in turns] == before.tolist()  # written beside, not over
    assert stats["reward/kl"] == pytest.approx(-0.1 * 10.0)
    samples = step_samples(trajectories, [np.ones(t.length) for t in trajectories])
    metrics = trainer.update(samples, seed=0, reference=reference)
    assert metrics["loss/kl"] == pytest.approx(10.0)
    assert np.isfinite(metrics["loss/total"]) and np.isfinite(metrics["loss/grad_norm"])
    trainer.close()
