"""Advantage estimators against values worked out by hand from each docstring's equation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.advantages import (
    GAEConfig,
    GiGPOConfig,
    GRPOConfig,
    ReinforcePPConfig,
    ReMaxConfig,
    RLOOConfig,
    dr_grpo,
    gae,
    gae_advantages,
    gae_estimate,
    gigpo,
    grpo,
    reinforce_pp,
    reinforce_pp_baseline,
    remax,
    rloo,
    step_group_keys,
    step_group_size_histogram,
)
from turngym.algos.registry import (
    ADVANTAGE_ESTIMATORS,
    advantage_needs,
    get_advantage,
    register_advantage,
)

EPS = 1e-6


def make_trajectory(
    group_id: str,
    rewards: list[float],
    *,
    episode_id: str = "e",
    states: list[str] | None = None,
    valid: list[bool] | None = None,
    response_lengths: list[int] | None = None,
) -> Trajectory:
    n = len(rewards)
    states = states or [f"s{i}" for i in range(n)]
    valid = valid or [True] * n
    response_lengths = response_lengths or [1] * n
    turns = [
        Turn(
            observation=f"obs {states[i]}",
            prompt_ids=[1],
            response_ids=[7] * response_lengths[i],
            response_logprobs=[-1.0] * response_lengths[i],
            action="act",
            action_logprob=-1.0,
            valid=valid[i],
            reward=rewards[i],
            state_key=states[i],
        )
        for i in range(n)
    ]
    return Trajectory(
        episode_id=episode_id, group_id=group_id, env_id="toy", task_id=0, seed=0, turns=turns
    )


def assert_turn_values(actual: list[np.ndarray], expected: list[list[float]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- GRPO family


def test_grpo_per_episode_statistics():
    batch = [make_trajectory("g", [0.0, 1.0]), make_trajectory("g", [0.0])]
    a = 0.5 / (math.sqrt(0.5) + EPS)  # returns 1 and 0: mean 0.5, unbiased std sqrt(0.5)
    assert_turn_values(grpo(batch), [[a, a], [-a]])


def test_grpo_cross_step_statistics_count_a_trajectory_once_per_step():
    batch = [make_trajectory("g", [0.0, 0.0, 1.0]), make_trajectory("g", [0.0])]
    # step samples 1, 1, 1, 0: mean 0.75, unbiased var (3 * 0.25**2 + 0.75**2) / 3 = 0.25
    config = GRPOConfig(cross_step_statistics=True)
    expected = [[0.25 / (0.5 + EPS)] * 3, [-0.75 / (0.5 + EPS)]]
    assert_turn_values(grpo(batch, config), expected)


def test_grpo_singleton_keeps_raw_return_and_equal_returns_give_zero():
    batch = [
        make_trajectory("alone", [0.7]),
        make_trajectory("same", [1.0]),
        make_trajectory("same", [0.0, 1.0]),
    ]
    assert_turn_values(grpo(batch), [[0.7], [0.0], [0.0, 0.0]])


def test_grpo_zero_length_trajectory_gets_empty_advantages():
    batch = [make_trajectory("g", []), make_trajectory("g", [1.0])]
    result = grpo(batch, GRPOConfig(cross_step_statistics=True))
    assert result[0].shape == (0,)
    assert_turn_values(result[1:], [[1.0]])  # the only step sample: a singleton keeps it


def test_dr_grpo_does_not_divide_by_std():
    batch = [make_trajectory("g", [1.0]), make_trajectory("g", [0.0]), make_trajectory("g", [0.0])]
    assert_turn_values(dr_grpo(batch), [[2 / 3], [-1 / 3], [-1 / 3]])


def test_rloo_subtracts_the_mean_of_the_others():
    batch = [make_trajectory("g", [3.0]), make_trajectory("g", [1.0]), make_trajectory("g", [2.0])]
    expected = [[3 - (1 + 2) / 2], [1 - (3 + 2) / 2], [2 - (3 + 1) / 2]]
    assert_turn_values(rloo(batch), expected)


def test_rloo_group_of_one():
    batch = [make_trajectory("alone", [0.4, 0.0])]
    assert_turn_values(rloo(batch), [[0.4, 0.4]])
    assert_turn_values(rloo(batch, RLOOConfig(singleton="zero")), [[0.0, 0.0]])


def test_reinforce_pp_whitens_returns_over_turns():
    batch = [make_trajectory("g", [0.0, 1.0]), make_trajectory("h", [0.0])]
    # returns-to-go 1, 1, 0: mean 2/3, unbiased var (2 * (1/3)**2 + (2/3)**2) / 2 = 1/3
    std = math.sqrt(1 / 3)
    config = ReinforcePPConfig(whiten_over="turns")
    assert_turn_values(reinforce_pp(batch, config), [[(1 / 3) / std] * 2, [-(2 / 3) / std]])


def test_reinforce_pp_discounts_and_weighs_turns_by_tokens():
    batch = [
        make_trajectory("g", [0.0, 1.0], response_lengths=[1, 1]),
        make_trajectory("h", [0.0], response_lengths=[2]),
    ]
    # gamma 0.5: returns 0.5, 1, 0 with token weights 1, 1, 2 (4 tokens): mean 1.5 / 4 = 0.375
    std = math.sqrt((0.125**2 + 0.625**2 + 2 * 0.375**2) / 3)
    expected = [[0.125 / std, 0.625 / std], [-0.375 / std]]
    assert_turn_values(reinforce_pp(batch, ReinforcePPConfig(gamma=0.5)), expected)


def test_reinforce_pp_baseline_subtracts_group_mean_then_whitens_batch():
    batch = [make_trajectory("g", [1.0]), make_trajectory("g", [0.0]), make_trajectory("h", [2.0])]
    # centred in group: 0.5, -0.5, 2 (singleton keeps 2); batch mean 2/3
    centred = [0.5 - 2 / 3, -0.5 - 2 / 3, 2 - 2 / 3]
    std = math.sqrt(sum(x**2 for x in centred) / 2)
    expected = [[centred[0] / std], [centred[1] / std], [centred[2] / std]]
    assert_turn_values(
        reinforce_pp_baseline(batch, ReinforcePPConfig(whiten_over="turns")), expected
    )


def test_remax_uses_the_greedy_rollout_as_baseline():
    batch = [
        make_trajectory("g", [0.5], episode_id="g/greedy"),
        make_trajectory("g", [0.0, 1.0], episode_id="g/0"),
        make_trajectory("g", [0.0], episode_id="g/1"),
        make_trajectory("h", [1.0], episode_id="h-argmax"),
        make_trajectory("h", [0.0], episode_id="h/0"),
    ]
    config = ReMaxConfig(greedy_episode_ids=["h-argmax"])
    assert_turn_values(remax(batch, config), [[0.0], [0.5, 0.5], [-0.5], [0.0], [-1.0]])


def test_remax_gives_each_turn_its_reward_to_go_minus_the_baseline():
    batch = [
        make_trajectory("g", [0.0], episode_id="g/greedy"),
        make_trajectory("g", [1.0, 2.0], episode_id="g/0"),
    ]
    # verl's compute_remax_outcome_advantage: per-token reward-to-go 3, 2 minus the greedy 0
    assert_turn_values(remax(batch), [[0.0], [3.0, 2.0]])
    assert_turn_values(remax(batch, ReMaxConfig(returns="episode")), [[0.0], [3.0, 3.0]])


def test_remax_without_a_greedy_rollout_names_the_group():
    with pytest.raises(ValueError, match="'g' has no greedy rollout"):
        remax([make_trajectory("g", [1.0], episode_id="g/0")])


# ----------------------------------------------------------------------------- GiGPO


def gigpo_batch() -> list[Trajectory]:
    return [
        make_trajectory("g", [0.0, 1.0], states=["s0", "s1"], valid=[True, True]),
        make_trajectory("g", [0.0, 0.0], states=["s0", "s1"], valid=[False, True]),
        make_trajectory("h", [1.0], states=["s0"]),  # same state, other group: not grouped with g
    ]


def test_gigpo_mean_norm_by_hand():
    config = GiGPOConfig(mode="mean_norm", gamma=0.5)
    # episode scores per step: 1, 1, -0.1 (invalid), 0 -> mean 0.475
    # step returns: s0: 0.5 and 0 - 0.1 -> mean 0.2; s1: 1 and 0 -> mean 0.5
    expected = [
        [(1 - 0.475) + (0.5 - 0.2), (1 - 0.475) + (1 - 0.5)],
        [(-0.1 - 0.475) + (-0.1 - 0.2), (0 - 0.475) + (0 - 0.5)],
        [1.0 + 0.0],  # episode group of one step keeps its raw score; step group of one -> 0
    ]
    assert_turn_values(gigpo(gigpo_batch(), config), expected)


def test_gigpo_mean_std_norm_by_hand():
    config = GiGPOConfig(mode="mean_std_norm", gamma=0.5)
    episode_std = math.sqrt((2 * 0.525**2 + 0.575**2 + 0.475**2) / 3)
    step_std_s0 = math.sqrt(2 * 0.3**2)  # values 0.5 and -0.1
    step_std_s1 = math.sqrt(2 * 0.5**2)  # values 1 and 0
    expected = [
        [
            0.525 / (episode_std + EPS) + 0.3 / (step_std_s0 + EPS),
            0.525 / (episode_std + EPS) + 0.5 / (step_std_s1 + EPS),
        ],
        [
            -0.575 / (episode_std + EPS) - 0.3 / (step_std_s0 + EPS),
            -0.475 / (episode_std + EPS) - 0.5 / (step_std_s1 + EPS),
        ],
        [1.0],
    ]
    assert_turn_values(gigpo(gigpo_batch(), config), expected)


@pytest.mark.parametrize(
    ("applies_to", "expected_second_first_step"),
    [
        ("episode", (-0.1 - 0.475) + (0.0 - 0.25)),  # step returns 0.5 and 0: mean 0.25
        ("step", (0.0 - 0.5) + (-0.1 - 0.2)),  # episode scores 1, 1, 0, 0: mean 0.5
        ("both", (-0.1 - 0.475) + (-0.1 - 0.2)),
    ],
)
def test_gigpo_invalid_action_penalty_placement(applies_to, expected_second_first_step):
    config = GiGPOConfig(gamma=0.5, penalty_applies_to=applies_to)
    result = gigpo(gigpo_batch(), config)
    assert result[1][0] == pytest.approx(expected_second_first_step)


def test_gigpo_step_weight_zero_leaves_the_episode_part():
    config = GiGPOConfig(step_advantage_weight=0.0, invalid_action_penalty=0.0)
    batch = gigpo_batch()[:2]  # scores 1, 1, 0, 0: mean 0.5
    assert_turn_values(gigpo(batch, config), [[0.5, 0.5], [-0.5, -0.5]])


def test_gigpo_all_equal_rewards_give_zero():
    batch = [make_trajectory("g", [0.0, 1.0]), make_trajectory("g", [0.0, 1.0])]
    expected = [[0.0, 0.0], [0.0, 0.0]]
    assert_turn_values(gigpo(batch, GiGPOConfig(mode="mean_std_norm")), expected)


def test_gigpo_default_gamma_and_repeated_state_within_a_trajectory():
    # states s, s: both steps of the first trajectory share a step group with the second's
    batch = [
        make_trajectory("g", [0.0, 1.0], states=["s", "s"]),
        make_trajectory("g", [0.0], states=["s"]),
    ]
    # episode scores 1, 1, 0 -> mean 2/3; step returns 0.95, 1, 0 -> mean 1.95 / 3 = 0.65
    expected = [[1 / 3 + 0.30, 1 / 3 + 0.35], [-2 / 3 - 0.65]]
    assert_turn_values(gigpo(batch), expected)


def test_gigpo_zero_length_trajectory():
    batch = [make_trajectory("g", []), make_trajectory("g", [1.0])]
    result = gigpo(batch)
    assert result[0].shape == (0,)
    assert_turn_values(result[1:], [[1.0]])


def test_step_group_sizes_for_logging():
    assert step_group_size_histogram(gigpo_batch()) == {1: 1, 2: 2}


def test_step_group_key_falls_back_to_the_observation():
    trajectory = make_trajectory("g", [0.0])
    trajectory.turns[0].state_key = None
    assert step_group_keys([trajectory]) == [("g", "obs s0")]


# ----------------------------------------------------------------------------- GAE


def test_gae_by_hand():
    advantages, returns = gae(np.array([0.0, 1.0]), np.array([0.5, 0.8]), gamma=0.9, lam=0.5)
    # delta_1 = 1 - 0.8 = 0.2; delta_0 = 0.9 * 0.8 - 0.5 = 0.22; A_0 = 0.22 + 0.45 * 0.2
    np.testing.assert_allclose(advantages, [0.31, 0.2])
    np.testing.assert_allclose(returns, [0.81, 1.0])


def test_gae_with_lambda_one_is_return_minus_value_and_bootstraps_truncation():
    advantages, _ = gae(np.array([0.0, 1.0]), np.array([0.5, 0.8]), gamma=1.0, lam=1.0)
    np.testing.assert_allclose(advantages, [0.5, 0.2])
    advantages, _ = gae(np.array([1.0]), np.array([0.8]), gamma=0.9, lam=0.5, last_value=2.0)
    np.testing.assert_allclose(advantages, [1 + 0.9 * 2.0 - 0.8])


def test_gae_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per turn"):
        gae(np.array([0.0, 1.0]), np.array([0.5]), gamma=1.0, lam=1.0)


def test_gae_whitening_is_unbiased_with_epsilon_inside_the_root():
    batch = [make_trajectory("g", [1.0]), make_trajectory("h", [0.0])]
    values = [np.zeros(1), np.zeros(1)]
    # A = 1 and 0: mean 0.5, unbiased var (0.25 + 0.25) / 1 = 0.5 (biased: 0.25)
    expected = 0.5 / math.sqrt(0.5 + 1e-8)
    estimate = gae_advantages(batch, GAEConfig(gamma=1.0, gae_lambda=1.0), values)
    assert_turn_values(estimate.advantages, [[expected], [-expected]])


def test_gae_whitens_over_tokens_or_over_turns():
    batch = [
        make_trajectory("g", [1.0], response_lengths=[3]),
        make_trajectory("h", [0.0], response_lengths=[1]),
    ]
    values = [np.zeros(1), np.zeros(1)]
    # tokens (verl): A = 1 counts 3 times, 0 once: mean 0.75; var (3/16 + 9/16) / 4 * 4/3 = 1/4
    by_tokens = gae_advantages(batch, GAEConfig(gamma=1.0, gae_lambda=1.0), values).advantages
    assert_turn_values(by_tokens, [[0.25 / 0.5], [-0.75 / 0.5]])
    by_turns = GAEConfig(gamma=1.0, gae_lambda=1.0, whiten_over="turns")
    a = 0.5 / math.sqrt(0.5 + 1e-8)
    assert_turn_values(gae_advantages(batch, by_turns, values).advantages, [[a], [-a]])


def test_gae_bootstraps_truncated_episodes_from_the_final_value():
    cut, ended, crashed = (make_trajectory(g, [0.0]) for g in "abc")
    cut.truncated = crashed.truncated = True
    crashed.error = "worker died"
    values, last_values = [np.array([0.5])] * 3, [2.0, 2.0, 2.0]
    config = GAEConfig(gamma=0.9, gae_lambda=1.0)
    estimate = gae_estimate([cut, ended, crashed], config, values, last_values)
    # truncated: R = 0 + 0.9 * V(s_T) = 1.8; ended, or stopped by an error: R = 0
    np.testing.assert_allclose(np.concatenate(estimate.critic_targets), [1.8, 0.0, 0.0])
    off = config.model_copy(update={"bootstrap_truncated": False})
    targets = gae_estimate([cut], off, values[:1], last_values[:1]).critic_targets
    np.testing.assert_allclose(np.concatenate(targets), [0.0])


def test_gae_per_token_discounts_inside_a_response_as_verl():
    # turns of 2 and 1 tokens, rewards 0 and 1 (on the last token), V = 0.1, 0.2, 0.3 per token
    batch = [make_trajectory("g", [0.0, 1.0], response_lengths=[2, 1])]
    config = GAEConfig(gamma=0.5, gae_lambda=1.0, discount_per="token")
    estimate = gae_estimate(batch, config, [np.array([0.1, 0.2, 0.3])])
    # deltas: 0.5 * 0.2 - 0.1 = 0, 0.5 * 0.3 - 0.2 = -0.05, 1 - 0.3 = 0.7
    # A = 0 + 0.5 * 0.3 = 0.15, -0.05 + 0.5 * 0.7 = 0.3, 0.7; R = A + V = 0.25, 0.5, 1
    np.testing.assert_allclose(np.concatenate(estimate.critic_targets), [0.25, 0.5, 1.0])
    assert [len(r) for r in estimate.critic_targets] == [2, 1]
    raw = np.array([0.15, 0.3, 0.7])
    whitened = (raw - raw.mean()) / np.sqrt(raw.var(ddof=1) + 1e-8)
    (per_turn,) = estimate.advantages
    np.testing.assert_allclose(np.concatenate(per_turn), whitened)
    assert [len(a) for a in per_turn] == [2, 1]


def test_gae_per_turn_discounts_once_per_turn():
    batch = [make_trajectory("g", [0.0, 1.0], response_lengths=[2, 1])]
    config = GAEConfig(gamma=0.5, gae_lambda=1.0)
    estimate = gae_estimate(batch, config, [np.array([0.1, 0.3])])
    np.testing.assert_allclose(np.concatenate(estimate.critic_targets), [0.5, 1.0])


def test_estimators_are_registered_with_what_they_need():
    names = ["grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "remax", "gigpo",
             "gae"]  # fmt: skip
    assert set(names) <= set(ADVANTAGE_ESTIMATORS)
    assert advantage_needs("gae") == {"values"} and advantage_needs("remax") == {"greedy_baseline"}
    assert advantage_needs("gigpo") == frozenset()
    with pytest.raises(ValueError, match="needs \\['a critic'\\]"):
        register_advantage("probe", needs=("a critic",))


@pytest.mark.parametrize("name", sorted(ADVANTAGE_ESTIMATORS))
def test_empty_batch_gives_no_advantages(name):
    provided = {"values": [], "last_values": []} if "values" in advantage_needs(name) else {}
    result = get_advantage(name)([], None, **provided)
    assert (result.advantages if "values" in advantage_needs(name) else result) == []
