"""The rules of ``turngym/Household-v0``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import turngym.envs  # noqa: F401  (registers the ids)
from turngym.envs import NOTHING_HAPPENS
from turngym.envs.household import HouseholdEnv

ENV_ID = "turngym/Household-v0"


def where_is(room, obj: str) -> str | None:
    return next((r for r in room.receptacles if obj in room.contents[r]), None)


def expert_action(env: HouseholdEnv) -> str:
    """The next action of a shortest plan, read from ``env.room``."""
    room = env.room
    obj = room.target_object
    target = room.goal if room.holding == obj else where_is(room, obj)
    if room.location != target:
        return f"go to {target}"
    if not room.is_reachable(target):
        return f"open {target}"
    if room.holding == obj:
        return f"move {obj} to {target}"
    return f"take {obj} from {target}"


def play_expert(env: gym.Env, task_id: int) -> tuple[list, dict]:
    observation, info = env.reset(options={"task_id": task_id})
    steps = []
    terminated = truncated = False
    while not (terminated or truncated):
        action = expert_action(env.unwrapped)
        assert action in info["admissible_actions"], (task_id, action)
        observation, reward, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"], (task_id, action, observation)
        steps.append((action, observation, reward, terminated, truncated))
    return steps, info


def go_to_closed_container_with_target(env: HouseholdEnv) -> tuple[str, str, dict]:
    """Reset a task whose object starts in a closed container; walk there."""
    for task_id in range(200):
        env.reset(options={"task_id": task_id})
        room = env.room
        start = where_is(room, room.target_object)
        if start in room.containers:
            observation, _, _, _, info = env.step(f"go to {start}")
            return observation, start, info
    raise AssertionError("no task in 0..199 starts the object in a container")


# -- an expert wins ------------------------------------------------------------------------------
@pytest.mark.parametrize("num_distractors", [0, 3])
def test_expert_wins_every_task(num_distractors: int) -> None:
    env = gym.make(ENV_ID, num_distractors=num_distractors)
    lengths = []
    for task_id in range(50):
        steps, info = play_expert(env, task_id)
        action, observation, reward, terminated, truncated = steps[-1]
        assert reward == 1.0 and terminated and not truncated, (task_id, steps)
        assert info["won"] is True and action.startswith("move ")
        assert observation == f"You move the {action[5:].replace(' to ', ' to the ')}."
        assert len(steps) <= 15
        assert all(reward == 0.0 and not done for _, _, reward, done, _ in steps[:-1])
        lengths.append(len(steps))
    assert 3 <= min(lengths) and max(lengths) <= 6
    env.close()


def test_winning_needs_the_goal_receptacle() -> None:
    env = HouseholdEnv()
    env.reset(options={"task_id": 4})
    room = env.room
    obj, start = room.target_object, where_is(room, room.target_object)
    env.step(f"go to {start}")
    if start in room.containers:
        env.step(f"open {start}")
    env.step(f"take {obj} from {start}")
    other = next(r for r in room.receptacles if r not in (start, room.goal))
    env.step(f"go to {other}")
    if other in room.containers:
        env.step(f"open {other}")
    observation, reward, terminated, _, info = env.step(f"move {obj} to {other}")
    assert observation.startswith("You move") and reward == 0.0 and not terminated
    assert info["won"] is False


# -- closed containers ---------------------------------------------------------------------------
def test_closed_container_hides_its_contents() -> None:
    env = HouseholdEnv()
    observation, container, info = go_to_closed_container_with_target(env)
    obj = env.room.target_object
    assert observation == f"You arrive at {container}. The {container} is closed."
    assert obj not in observation
    assert f"open {container}" in info["admissible_actions"]
    assert not any(a.startswith("take ") for a in info["admissible_actions"])
    blocked, _, _, _, info = env.step(f"take {obj} from {container}")
    assert blocked == NOTHING_HAPPENS and info["invalid_action"] and env.room.holding is None

    observation, _, _, _, info = env.step(f"open {container}")
    assert observation.startswith(f"You open the {container}. The {container} is open.")
    assert f"a {obj}" in observation
    assert f"take {obj} from {container}" in info["admissible_actions"]
    assert f"close {container}" in info["admissible_actions"]

    observation, _, _, _, info = env.step(f"close {container}")
    assert observation == f"You close the {container}."
    assert not any(a.startswith("take ") for a in info["admissible_actions"])
    _, _, _, _, info = env.step(f"take {obj} from {container}")
    assert info["invalid_action"]


# -- the "put" alias -----------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["put {o} {p} {r}", "put {o} in/on {r}", "PUT  {o} {p} {r} "])
def test_put_alias(form: str) -> None:
    env = HouseholdEnv()
    env.reset(options={"task_id": 12})
    room = env.room
    obj = room.target_object
    assert env.step(f"put {obj} in {room.goal}")[4]["invalid_action"]  # not holding it yet
    while True:
        action = expert_action(env)
        if action.startswith("move "):
            break
        env.step(action)
    command = form.format(o=obj, p=room.preposition(room.goal), r=room.goal)
    observation, reward, terminated, _, info = env.step(command)
    assert not info["invalid_action"]
    assert observation == f"You move the {obj} to the {room.goal}."
    assert reward == 1.0 and terminated and info["won"]


def test_put_alias_needs_a_preposition_and_admissibility() -> None:
    env = HouseholdEnv()
    env.reset(options={"task_id": 12})
    while not expert_action(env).startswith("move "):
        env.step(expert_action(env))
    obj, goal = env.room.target_object, env.room.goal
    for bad in (f"put {obj} to {goal}", f"put {obj}", "put", f"put {obj} in nowhere 1"):
        observation, *_, info = env.step(bad)
        assert observation == NOTHING_HAPPENS and info["invalid_action"], bad
    assert env.room.holding == obj


# -- task ids ------------------------------------------------------------------------------------
def test_task_id_pins_the_layout() -> None:
    env = gym.make(ENV_ID)
    first, info = env.reset(seed=0, options={"task_id": 17})
    for seed in (1, 2, None):
        again, again_info = env.reset(seed=seed, options={"task_id": 17})
        assert again == first and again_info == info
    other = gym.make(ENV_ID)
    assert other.reset(seed=99, options={"task_id": 17}) == (first, info)
    openings = {env.reset(options={"task_id": t})[0] for t in range(40)}
    assert len(openings) >= 35  # different task ids give different rooms
    rooms = set()
    for task_id in range(40):
        env.reset(options={"task_id": task_id})
        room = env.unwrapped.room
        rooms.add((tuple(room.receptacles), room.target_object, room.goal))
    assert len(rooms) >= 38


def test_seeded_reset_draws_task_ids() -> None:
    env = gym.make(ENV_ID)
    drawn = [env.reset(seed=s)[1]["task_id"] for s in range(20)]
    assert drawn == [env.reset(seed=s)[1]["task_id"] for s in range(20)]
    assert len(set(drawn)) == 20


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, [1]])
def test_bad_task_id_raises(bad) -> None:
    env = HouseholdEnv()
    with pytest.raises(ValueError, match="task_id"):
        env.reset(options={"task_id": bad})


# -- the step limit ------------------------------------------------------------------------------
def test_truncates_at_15_steps_through_make() -> None:
    env = gym.make(ENV_ID)
    assert env.spec.max_episode_steps == 15
    _, info = env.reset(seed=0, options={"task_id": 3})
    gotos = [a for a in info["admissible_actions"] if a.startswith("go to ")]
    for step in range(1, 16):
        action = gotos[step % 2] if step % 3 else "not a command"
        _, reward, terminated, truncated, info = env.step(action)
        assert not terminated and reward == 0.0
        assert truncated == (step == 15), step
    env.reset(seed=0, options={"task_id": 3})
    assert env.step("look")[3] is False  # the counter restarts with the episode


# -- a random policy -----------------------------------------------------------------------------
def test_random_policy_success_rate_is_in_a_sanity_band() -> None:
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(0)
    wins = 0
    for episode in range(500):
        _, info = env.reset(seed=episode)
        terminated = truncated = False
        while not (terminated or truncated):
            actions = info["admissible_actions"]
            _, reward, terminated, truncated, info = env.step(actions[rng.integers(len(actions))])
        wins += int(info["won"])
        assert info["won"] == terminated
    assert 0.02 <= wins / 500 <= 0.15, wins / 500


# -- constructor arguments -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*render_mode='rgb_array'")
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"min_receptacles": 1}, "min_receptacles"),
        ({"min_receptacles": 6, "max_receptacles": 4}, "max_receptacles"),
        ({"max_receptacles": 2}, "max_receptacles"),
        ({"num_distractors": -1}, "num_distractors"),
        ({"num_distractors": 10}, "num_distractors"),
        ({"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_invalid_constructor_args_raise(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        HouseholdEnv(**kwargs)
    with pytest.raises(ValueError, match=name):
        gym.make(ENV_ID, **kwargs)


def test_room_size_and_distractors_are_honoured() -> None:
    env = HouseholdEnv(min_receptacles=2, max_receptacles=2, num_distractors=4)
    for task_id in range(20):
        env.reset(options={"task_id": task_id})
        room = env.room
        assert len(room.receptacles) == 2 and len(set(room.receptacles)) == 2
        objects = [o for r in room.receptacles for o in room.contents[r]]
        assert len(objects) == 5 == len(set(objects)) and room.target_object in objects
        assert room.goal != where_is(room, room.target_object)


def test_render_ansi_returns_the_last_observation() -> None:
    env = gym.make(ENV_ID, render_mode="ansi")
    observation, _ = env.reset(seed=0)
    assert env.render() == observation
    observation, *_ = env.step("not a command")
    assert env.render() == observation == NOTHING_HAPPENS
