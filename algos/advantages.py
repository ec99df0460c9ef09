"""Advantage estimators. Each takes the batch's trajectories and returns one advantage per turn
(or, for GAE discounted per token, one per loss unit of each turn).

Estimators run on trajectories, before any padding or duplication into step samples, so a
trajectory of length T is one sample of its group (unless an estimator says otherwise). A
turn's loss units are its response tokens in ``generate`` mode and its one choice in
``choose`` mode (:func:`unit_count`); "tokens" in whitening options means those units, as
verl's ``response_mask`` marks them. Rewards are the reward stage's totals
(``turn.total_reward``: the environment's reward when no stage ran).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from turngym.agents.trajectory import Trajectory, Turn
from turngym.config.algorithms import (
    GAEConfig,
    GiGPOConfig,
    GRPOConfig,
    ReinforcePPConfig,
    ReMaxConfig,
    RLOOConfig,
)

from .registry import register_advantage


def group_normalize(
    scores: np.ndarray,
    group_ids: Sequence[Hashable],
    normalize_by_std: bool,
    epsilon: float,
    singleton: Literal["raw", "zero"] = "raw",
) -> np.ndarray:
    """(score - mean_group) / (std_group + epsilon), std unbiased (N - 1).

    A group of one keeps its raw score (verl's convention: mean 0, std 1 for singletons), or
    gets 0 with ``singleton="zero"`` (GiGPO's step groups).
    """
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, group in enumerate(group_ids):
        members[group].append(index)
    out = np.zeros(len(scores), dtype=np.float64)
    for indices in members.values():
        values = scores[indices]
        if len(values) == 1:
            out[indices] = values if singleton == "raw" else 0.0
            continue
        centred = values - values.mean()
        out[indices] = centred / (values.std(ddof=1) + epsilon) if normalize_by_std else centred
    return out


@register_advantage("grpo")
def grpo(trajectories: list[Trajectory], config: GRPOConfig | None = None) -> list[np.ndarray]:
    """GRPO (Shao et al., 2024), outcome supervision over episodes.

    A_i = (R_i - mean(R_group)) / (std(R_group) + epsilon), where R_i is episode i's return and
    the group is the rollouts sharing ``group_id`` (same initial state). Every turn of episode i
    gets A_i (and every response token of a turn gets its turn's value). With
    ``cross_step_statistics`` the mean and std run over step samples (episode i counts T_i
    times), and a group is a singleton only when it holds a single step.
    """
    config = config or GRPOConfig()
    returns = np.array([t.total_return for t in trajectories], dtype=np.float64)
    group_ids = [t.group_id for t in trajectories]
    if config.cross_step_statistics:
        lengths = [t.length for t in trajectories]
        per_step = group_normalize(
            np.repeat(returns, lengths),
            [t.group_id for t in trajectories for _ in t.turns],
            config.normalize_by_std,
            config.epsilon,
        )
        return split_by_trajectory(per_step, trajectories)
    episode_advantages = group_normalize(
        returns, group_ids, config.normalize_by_std, config.epsilon
    )
    return [np.full(t.length, a) for t, a in zip(trajectories, episode_advantages, strict=True)]


def split_by_trajectory(per_step: np.ndarray, trajectories: list[Trajectory]) -> list[np.ndarray]:
    """Cut a flat array of step values (trajectories in order) into one array per trajectory."""
    if not trajectories:
        return []
    boundaries = np.cumsum([t.length for t in trajectories])[:-1]
    return [np.asarray(part, dtype=np.float64) for part in np.split(per_step, boundaries)]


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_{k >= t} gamma^(k - t) r_k, computed backwards."""
    returns = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def whiten(values: np.ndarray, weights: np.ndarray, epsilon: float) -> np.ndarray:
    """(x - mean_w) / sqrt(var_w + epsilon), var unbiased over the weight total W: * W / (W - 1).

    verl's ``masked_whiten`` with token counts as weights. With a total weight of at most 1
    there is no spread to divide by, so values are only centred.
    """
    total = weights.sum()
    if total <= 0:
        return np.zeros_like(values, dtype=np.float64)
    mean = (values * weights).sum() / total
    centred = values - mean
    if total <= 1:
        return centred
    variance = (centred**2 * weights).sum() / total * total / (total - 1)
    return centred / np.sqrt(variance + epsilon)


# --------------------------------------------------------------------------------------------
# GRPO variants: Dr. GRPO, RLOO, REINFORCE++, ReMax
# --------------------------------------------------------------------------------------------


@register_advantage("dr_grpo")
def dr_grpo(trajectories: list[Trajectory], config: GRPOConfig | None = None) -> list[np.ndarray]:
    """Dr. GRPO (Liu et al., 2025): A_i = R_i - mean(R_group), no division by the std.

    ``config.normalize_by_std`` is ignored (always False). Dr. GRPO's other half, dropping
    the 1/|o_i| length normalization, is the loss aggregation ``seq-mean-token-sum-norm``.
    """
    config = (config or GRPOConfig()).model_copy(update={"normalize_by_std": False})
    return grpo(trajectories, config)


@register_advantage("rloo")
def rloo(trajectories: list[Trajectory], config: RLOOConfig | None = None) -> list[np.ndarray]:
    """RLOO (Ahmadian et al., 2024): A_i = R_i - 1/(n - 1) sum_{j != i} R_j over a group of n.

    Equal to n / (n - 1) * (R_i - mean(R_group)). A group of one has no other sample: it keeps
    R_i by default (as verl does), or gets 0 with ``singleton="zero"``.
    """
    config = config or RLOOConfig()
    returns = np.array([t.total_return for t in trajectories], dtype=np.float64)
    members: dict[str, list[int]] = defaultdict(list)
    for index, trajectory in enumerate(trajectories):
        members[trajectory.group_id].append(index)
    advantages = np.zeros(len(trajectories), dtype=np.float64)
    for indices in members.values():
        group_returns = returns[indices]
        n = len(indices)
        if n == 1:
            advantages[indices] = group_returns if config.singleton == "raw" else 0.0
            continue
        others_mean = (group_returns.sum() - group_returns) / (n - 1)
        advantages[indices] = group_returns - others_mean
    return [np.full(t.length, a) for t, a in zip(trajectories, advantages, strict=True)]


def unit_count(turn: Turn) -> int:
    """A turn's loss units: its response tokens (``generate``) or 1, the choice (``choose``)."""
    return len(turn.response_logprobs)


def _whitening_weights(trajectories: list[Trajectory], whiten_over: str) -> np.ndarray:
    """Per turn, 1 (``turns``) or its loss-unit count (``tokens``)."""
    if whiten_over == "turns":
        return np.ones(sum(t.length for t in trajectories), dtype=np.float64)
    return np.array([unit_count(turn) for t in trajectories for turn in t.turns], np.float64)


@register_advantage("reinforce_pp")
def reinforce_pp(
    trajectories: list[Trajectory], config: ReinforcePPConfig | None = None
) -> list[np.ndarray]:
    """REINFORCE++ (Hu, 2025): G_t = sum_{k >= t} gamma^(k - t) r_k, whitened over the batch.

    A_t = (G_t - mean_batch(G)) / sqrt(var_batch(G) + epsilon), the statistics taken over all
    response tokens of the batch (a turn with n tokens counts n times) or over turns.
    """
    config = config or ReinforcePPConfig()
    returns = [
        discounted_returns(np.array([turn.total_reward for turn in t.turns]), config.gamma)
        for t in trajectories
    ]
    flat = np.concatenate(returns) if returns else np.zeros(0)
    weights = _whitening_weights(trajectories, config.whiten_over)
    return split_by_trajectory(whiten(flat, weights, config.epsilon), trajectories)


@register_advantage("reinforce_pp_baseline")
def reinforce_pp_baseline(
    trajectories: list[Trajectory], config: ReinforcePPConfig | None = None
) -> list[np.ndarray]:
    """REINFORCE++-baseline: A_i = whiten_batch(R_i - mean(R_group)).

    The group mean is subtracted first (a group of one keeps R_i), then the result is whitened
    over the whole batch as in :func:`reinforce_pp`. ``gamma`` is unused: R_i is the episode's
    undiscounted return.
    """
    config = config or ReinforcePPConfig()
    returns = np.array([t.total_return for t in trajectories], dtype=np.float64)
    centred = group_normalize(
        returns, [t.group_id for t in trajectories], normalize_by_std=False, epsilon=0.0
    )
    flat = np.repeat(centred, [t.length for t in trajectories])
    weights = _whitening_weights(trajectories, config.whiten_over)
    return split_by_trajectory(whiten(flat, weights, config.epsilon), trajectories)


def is_greedy_rollout(trajectory: Trajectory, config: ReMaxConfig) -> bool:
    """Whether the trainer marked this rollout as its group's greedy (argmax) one."""
    suffix = config.greedy_episode_suffix
    return trajectory.episode_id in config.greedy_episode_ids or bool(
        suffix and trajectory.episode_id.endswith(suffix)
    )


@register_advantage("remax", needs=("greedy_baseline",))
def remax(trajectories: list[Trajectory], config: ReMaxConfig | None = None) -> list[np.ndarray]:
    """ReMax (Li et al., 2024): A_t = G_t - R_greedy, the baseline being the return of a greedy
    rollout from the same initial state.

    G_t = sum_{k >= t} r_k, the undiscounted reward-to-go of turn t, as verl's
    ``compute_remax_outcome_advantage`` gives each token (turn rewards [1, 2] with a greedy
    return of 0: [3, 2]); with ``returns="episode"`` every turn gets G_t = R_i, the episode's
    return (the two agree when only the last turn is rewarded).

    The trainer adds, per group, one greedy rollout and marks it by listing its episode id in
    ``greedy_episode_ids`` or by ending its episode id with ``greedy_episode_suffix``. Greedy
    rollouts get advantage 0 (no gradient); the trainer may also drop them from the batch.
    """
    config = config or ReMaxConfig()
    baselines: dict[str, float] = {}
    for trajectory in trajectories:
        if not is_greedy_rollout(trajectory, config):
            continue
        if trajectory.group_id in baselines:
            raise ValueError(
                f"group {trajectory.group_id!r} has more than one greedy rollout; "
                "ReMax needs exactly one per group"
            )
        baselines[trajectory.group_id] = trajectory.total_return
    advantages = []
    for trajectory in trajectories:
        if is_greedy_rollout(trajectory, config):
            advantages.append(np.zeros(trajectory.length))
            continue
        if trajectory.group_id not in baselines:
            raise ValueError(
                f"group {trajectory.group_id!r} has no greedy rollout; mark one per group with "
                f"an episode id ending in {config.greedy_episode_suffix!r} or in "
                "greedy_episode_ids"
            )
        rewards = np.array([turn.total_reward for turn in trajectory.turns], dtype=np.float64)
        returns = (
            discounted_returns(rewards, 1.0)
            if config.returns == "reward_to_go"
            else np.full(trajectory.length, trajectory.total_return)
        )
        advantages.append(returns - baselines[trajectory.group_id])
    return advantages


# --------------------------------------------------------------------------------------------
# GiGPO
# --------------------------------------------------------------------------------------------


def step_group_keys(trajectories: list[Trajectory]) -> list[tuple[str, str]]:
    """One key per step: (group_id, anchor state). The anchor is ``state_key``, or the
    observation where a turn has no ``state_key``."""
    return [
        (t.group_id, turn.state_key if turn.state_key is not None else turn.observation)
        for t in trajectories
        for turn in t.turns
    ]


def step_group_size_histogram(trajectories: list[Trajectory]) -> dict[int, int]:
    """For logging GiGPO: {step-group size: number of step groups of that size}."""
    sizes = Counter(step_group_keys(trajectories)).values()
    return dict(sorted(Counter(sizes).items()))


@register_advantage("gigpo")
def gigpo(trajectories: list[Trajectory], config: GiGPOConfig | None = None) -> list[np.ndarray]:
    """GiGPO (Feng et al., 2025), group-in-group advantages, as verl-agent computes them.

    Episode part, over the step samples of a group (trajectory i of length T_i counts T_i
    times): A^E_t = F_norm(R_i - p^E_t), where R_i is the episode's return and p^E_t =
    c * invalid_t. Step part, over the step group of steps sharing group_id and anchor state:
    A^S_t = F_norm(G_t - p^S_t), G_t = sum_{k >= t} gamma^(k - t) r_k. F_norm(x) is x - mean or
    (x - mean) / (std + epsilon) with the unbiased std. A_t = A^E_t + omega * A^S_t.
    An episode group with a single step keeps its raw score; a step group of one gets A^S = 0.
    """
    config = config or GiGPOConfig()
    normalize_by_std = config.mode == "mean_std_norm"
    penalties = config.invalid_action_penalty * np.array(
        [float(not turn.valid) for t in trajectories for turn in t.turns]
    )
    episode_penalty = penalties if config.penalty_applies_to in ("episode", "both") else 0.0
    step_penalty = penalties if config.penalty_applies_to in ("step", "both") else 0.0

    lengths = [t.length for t in trajectories]
    episode_scores = np.repeat([t.total_return for t in trajectories], lengths) - episode_penalty
    episode_groups = [t.group_id for t in trajectories for _ in t.turns]
    episode_advantages = group_normalize(
        episode_scores, episode_groups, normalize_by_std, config.epsilon
    )

    step_returns = [
        discounted_returns(np.array([turn.total_reward for turn in t.turns]), config.gamma)
        for t in trajectories
    ]
    step_scores = (np.concatenate(step_returns) if step_returns else np.zeros(0)) - step_penalty
    step_advantages = group_normalize(
        step_scores,
        step_group_keys(trajectories),
        normalize_by_std,
        config.epsilon,
        singleton="zero",
    )
    combined = episode_advantages + config.step_advantage_weight * step_advantages
    return split_by_trajectory(combined, trajectories)


# --------------------------------------------------------------------------------------------
# GAE (PPO with a critic)
# --------------------------------------------------------------------------------------------


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    gamma: float,
    lam: float,
    last_value: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """GAE (Schulman et al., 2016) over the steps (turns or tokens) of one trajectory.

    delta_t = r_t + gamma * V_{t+1} - V_t, with V_T = ``last_value`` (0 when the episode
    ended; the critic's estimate of the next state when it was truncated);
    A_t = sum_{k >= t} (gamma * lam)^(k - t) delta_k; returns R_t = A_t + V_t (critic targets).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if rewards.shape != values.shape:
        raise ValueError(
            f"rewards {rewards.shape} and values {values.shape} must have one entry per turn "
            "(per loss unit when discounting per token)"
        )
    next_values = np.append(values[1:], last_value)
    deltas = rewards + gamma * next_values - values
    advantages = discounted_returns(deltas, gamma * lam)
    return advantages, advantages + values


def bootstraps_from_critic(trajectory: Trajectory, config: GAEConfig) -> bool:
    """Whether GAE ends this trajectory on V(final observation) rather than 0: it was cut by
    the step cap. An episode stopped by an error (a crashed worker) has no final state to
    value, and ends on 0 like a terminal one."""
    return config.bootstrap_truncated and trajectory.truncated and trajectory.error is None


def step_rewards(trajectory: Trajectory, discount_per: str) -> np.ndarray:
    """GAE's rewards: one per turn, or one per loss unit with each turn's reward on its last
    unit and 0 elsewhere (a turn without units adds its reward to the unit before it)."""
    if discount_per == "turn":
        return np.array([turn.total_reward for turn in trajectory.turns], dtype=np.float64)
    rewards: list[float] = []
    for turn in trajectory.turns:
        units = unit_count(turn)
        if units:
            rewards += [0.0] * (units - 1) + [turn.total_reward]
        elif rewards:
            rewards[-1] += turn.total_reward
    return np.array(rewards, dtype=np.float64)


@dataclass
class GAEEstimate:
    """What GAE gives the trainer.

    Attributes:
        advantages: per trajectory, whitened over the batch: an array with one value per turn
            (``discount_per="turn"``), or a list with one array of per-unit values per turn.
        critic_targets: per turn of the batch (trajectories in order), the returns
            R = A + V that the critic regresses on: one value per turn, or one per loss unit.
    """

    advantages: list[np.ndarray] | list[list[np.ndarray]]
    critic_targets: list[np.ndarray]


def gae_estimate(
    trajectories: list[Trajectory],
    config: GAEConfig,
    values: list[np.ndarray],
    last_values: Sequence[float] | None = None,
) -> GAEEstimate:
    """GAE(gamma, lambda) per trajectory, then whitened over the batch (verl's masked_whiten).

    A step is a turn or a loss unit (``discount_per``); ``values[i]`` holds V at each step of
    trajectory i (per turn: V(s_t) of the turn's prompt; per unit: V before each response
    token, the critic's reading of the prompt and the response so far). ``last_values[i]``
    is V(s_T) of the final observation, used where :func:`bootstraps_from_critic`; elsewhere
    V_T = 0. Whitening: A <- (A - mean_w) / sqrt(var_w + epsilon), var unbiased, w per step:
    1 per unit (``whiten_over="tokens"``, so a turn of n units counts n times) or 1 per turn.
    """
    per_token = config.discount_per == "token"
    advantages, targets, weights = [], [], []
    for index, trajectory in enumerate(trajectories):
        ends_on = (
            float(last_values[index])
            if last_values is not None and bootstraps_from_critic(trajectory, config)
            else 0.0
        )
        a, r = gae(step_rewards(trajectory, config.discount_per), values[index], config.gamma,
                   config.gae_lambda, ends_on)  # fmt: skip
        advantages.append(a)
        counts = [unit_count(turn) if per_token else 1 for turn in trajectory.turns]
        targets += np.split(r, np.cumsum(counts)[:-1]) if counts else []
        turn_weights = _whitening_weights([trajectory], config.whiten_over)
        weights.append(
            np.repeat(turn_weights / np.maximum(counts, 1), counts) if per_token else turn_weights
        )
    flat = np.concatenate(advantages) if advantages else np.zeros(0)
    whitened = whiten(flat, np.concatenate(weights) if weights else np.zeros(0), config.epsilon)
    boundaries = np.cumsum([len(a) for a in advantages])[:-1]
    per_trajectory = np.split(whitened, boundaries) if advantages else []
    if per_token:
        per_trajectory = [
            np.split(a, np.cumsum([unit_count(turn) for turn in t.turns])[:-1]) if t.turns else []
            for a, t in zip(per_trajectory, trajectories, strict=True)
        ]
    return GAEEstimate(per_trajectory, targets)


@register_advantage("gae", needs=("values",))
def gae_advantages(
    trajectories: list[Trajectory],
    config: GAEConfig | None = None,
    values: list[np.ndarray] | None = None,
    last_values: Sequence[float] | None = None,
) -> GAEEstimate:
    """PPO's advantage: :func:`gae_estimate` (whitened advantages and the critic's targets).
    It needs ``values`` (and ``last_values`` for truncated episodes) from a critic
    (``algos/critic.py``), which the trainer provides because it registers with
    ``needs=("values",)``."""
    if values is None:
        raise ValueError("the gae estimator needs critic values per turn (values=...)")
    return gae_estimate(trajectories, config or GAEConfig(), values, last_values)
