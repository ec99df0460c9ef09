"""``HouseholdEnv.expert_action``: a shortest-plan expert that wins from any state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import turngym.envs  # noqa: F401  (registers the ids)
from turngym.envs.household import HouseholdEnv

ENV_ID = "turngym/Household-v0"


def play_expert(env: gym.Env, info: dict, max_steps: int = 15) -> tuple[bool, int]:
    """Follow the expert from the current state; (won, steps taken)."""
    for step in range(1, max_steps + 1):
        action = env.unwrapped.expert_action()
        assert action in info["admissible_actions"], action
        _, reward, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"], action
        if terminated or truncated:
            return bool(info["won"] and reward == 1.0), step
    return False, max_steps


@pytest.mark.parametrize("num_distractors", [0, 3])
def test_expert_wins_every_task_within_15_steps(num_distractors: int) -> None:
    env = gym.make(ENV_ID, num_distractors=num_distractors)
    lengths = []
    for task_id in range(100):
        _, info = env.reset(options={"task_id": task_id})
        won, steps = play_expert(env, info)
        assert won, task_id
        lengths.append(steps)
    assert 3 <= min(lengths) and max(lengths) <= 6  # go, [open], take, go, [open], move
    env.close()


@pytest.mark.parametrize("num_distractors", [0, 3])
def test_expert_wins_from_states_after_random_actions(num_distractors: int) -> None:
    # the unwrapped env has no step limit, so a random prefix cannot truncate the expert
    env = HouseholdEnv(num_distractors=num_distractors)
    rng = np.random.default_rng(0)
    held_other = 0
    for task_id in range(100):
        _, info = env.reset(options={"task_id": task_id})
        terminated = False
        for _ in range(int(rng.integers(1, 9))):
            actions = info["admissible_actions"]
            _, _, terminated, _, info = env.step(actions[rng.integers(len(actions))])
            if terminated:
                break
        if terminated:
            continue
        room = env.room
        held_other += room.holding not in (None, room.target_object)
        won, steps = play_expert(env, info)
        # at most: go, open, drop what is held, take, go, open, move
        assert won and steps <= 7, task_id
    if num_distractors:
        assert held_other > 0  # the "drop the wrong object first" branch was exercised


def test_expert_action_needs_an_unfinished_episode() -> None:
    env = HouseholdEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.expert_action()
    env.reset(options={"task_id": 0})
    while not env.step(env.expert_action())[2]:
        pass
    with pytest.raises(RuntimeError, match="not done"):
        env.expert_action()
