"""``turngym/ALFWorld-Gen-v0`` and its generator, on the real textworld PDDL engine.

Generation needs the alfworld wheel (its domain, grammar, layouts and constants); playing needs
textworld too. Tests skip with the reason when either is absent. Game files go to ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import turngym.envs  # noqa: F401  (registers the ids)
from turngym.envs import NOTHING_HAPPENS
from turngym.envs.alfworld import TASK_TYPES

generate = pytest.importorskip(
    "turngym.envs.alfworld.generate", reason="turngym's ALFWorld generator is not importable"
)
try:
    generate.domain_text()
except ImportError as error:  # pragma: no cover - depends on the environment
    pytest.skip(f"alfworld not installed: {error}", allow_module_level=True)

from turngym.envs.alfworld.gen_env import ALFWorldGenEnv  # noqa: E402

ENV_ID = "turngym/ALFWorld-Gen-v0"
ARCHIVE_NAME = "json_2.1.1-train-valid_seen-valid_train"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alfworld_gen")


def _receptacle_count(game: dict) -> int:
    return len(re.findall(r" - receptacle$", game["pddl_problem"], re.M))


def _play(env: ALFWorldGenEnv, seed: int) -> dict:
    """Play a seed's walkthrough; every command admissible, won at the last one only."""
    observation, info = env.reset(options={"task_id": seed})
    assert observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert info["task"] and info["task"] in observation and info["won"] is False
    walkthrough = env.walkthrough()
    for number, action in enumerate(walkthrough, 1):
        assert action in info["admissible_actions"], (seed, action, info["admissible_actions"])
        observation, reward, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"] and observation != NOTHING_HAPPENS
        assert terminated == (number == len(walkthrough)) and not truncated, (seed, action)
    assert reward == 1.0 and info["won"] is True
    return info


# -- the generator alone --------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_game() -> None:
    for task_type in TASK_TYPES:
        first = json.dumps(generate.generate_game(5, task_type=task_type))
        assert first == json.dumps(generate.generate_game(5, task_type=task_type))
        assert first != json.dumps(generate.generate_game(6, task_type=task_type))
    game = generate.generate_game(0)
    assert set(game) == {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"}
    assert game["solvable"] is True and game["walkthrough"]


def test_knobs_change_the_scene() -> None:
    build = generate.build_game
    for count in (2, 4, 7):
        game = build(1, num_receptacles=count)
        assert len(game.receptacles) == count
        assert _receptacle_count(game.to_json()) == count
    assert len(build(1).receptacles) == len(build(1).scene.receptacles)  # None: all of them
    for count in (0, 3, 12):
        game = build(2, num_distractors=count)
        assert len(game.items) == len(game.targets) + count
        assert (
            len(re.findall(r"_bar_\S+ - object$", game.to_json()["pddl_problem"], re.M))
            == 1 + count
        )
    for seed in range(6):
        closed = build(seed, target_in_closed=True)
        assert all(t.receptacle.openable for t in closed.targets)
        assert (
            f"open {closed.names[closed.targets[0].receptacle.id]}"
            in closed.to_json()["walkthrough"]
        )
        assert not any(t.receptacle.openable for t in build(seed, target_in_closed=False).targets)
    two = build(3, task_type="pick_two_obj_and_place")
    assert len(build(3, task_type="pick_two_obj_and_place", num_receptacles=2).receptacles) == 2
    assert len(two.targets) == 2 and len({t.otype for t in two.targets}) == 1
    look = build(3, task_type="look_at_obj_in_light")
    assert look.lamp is not None and look.lamp.receptacle.rtype in generate.LAMP_HOSTS
    layout = build(4, layout="FloorPlan301")
    assert layout.scene.name == "FloorPlan301"


def test_task_sentence_and_goal_match_the_scene() -> None:
    game = generate.build_game(8, task_type="pick_heat_then_place_in_recep")
    data = game.to_json()
    assert f"Your task is to: {game.task}." in data["grammar"]
    assert game.target_type.lower() in game.task and game.parent_type.lower() in game.task
    assert f"(objectType ?o {game.target_type}Type)" in data["pddl_problem"]
    assert "(isHot ?o)" in data["pddl_problem"]
    # the task's object never starts where the goal already holds
    assert all(t.receptacle.rtype != game.parent_type for t in game.targets)


def test_bad_knobs_name_the_knob() -> None:
    cases = [
        ({"task_type": "pick_and_eat"}, "task type"),
        ({"num_receptacles": 1}, "num_receptacles"),
        ({"num_receptacles": 3.5}, "num_receptacles"),
        ({"num_distractors": -1}, "num_distractors"),
        ({"target_in_closed": "yes"}, "target_in_closed"),
        ({"layout": "FloorPlan9999"}, "unknown layout"),
        ({"layout": "FloorPlan401", "task_type": "pick_heat_then_place_in_recep"}, "cannot"),
        ({"layout": {"receptacles": ["Sofa", "Spaceship"]}}, "Spaceship"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            generate.generate_game(0, **kwargs)
    with pytest.raises(ValueError, match="num_seeds"):
        ALFWorldGenEnv(num_seeds=0)


def test_domain_and_grammar_are_the_released_ones() -> None:
    """Byte-equal to the released games' (when turngym's unpacked copy of them is here)."""
    base = Path(os.environ.get("TURNGYM_CACHE") or "~/.cache/turngym").expanduser()
    split = base / "alfworld" / ARCHIVE_NAME / "json_2.1.1" / "valid_seen"
    files = sorted(split.glob("pick_and_place_simple-*/*/game.tw-pddl"))[:1]
    if not files:
        pytest.skip(f"no unpacked ALFWorld games under {split} (test_alfworld.py unpacks them)")
    real = json.loads(files[0].read_text())
    task = re.search(r"Your task is to: (.*?)\.\"", real["grammar"]).group(1)
    assert generate.domain_text() == real["pddl_domain"]
    assert generate.grammar_text(task) == real["grammar"]


def test_display_names_follow_alfworlds_numbering() -> None:
    names = generate.display_names(
        [
            "Drawer|+01.00|+00.17|-02.39",
            "Drawer|-01.20|+00.17|-02.39",
            "Sink|+00.1|+00.2|-01.8|SinkBasin",
        ]
    )
    # sorted PDDL spellings: "_minus_" < "_plus_"; the first gets the highest number
    assert names["Drawer|-01.20|+00.17|-02.39"] == "drawer 2"
    assert names["Drawer|+01.00|+00.17|-02.39"] == "drawer 1"
    assert names["Sink|+00.1|+00.2|-01.8|SinkBasin"] == "sinkbasin 1"


# -- on the real engine ----------------------------------------------------------------------------
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_walkthroughs_win_every_task_type(task_type: str, engine_ready: None, cache: Path) -> None:
    env = ALFWorldGenEnv(task_types=task_type, cache_dir=cache, engine="textworld")
    for seed in (0, 1):
        info = _play(env, seed)
        assert info["task_type"] == task_type and info["task_id"] == seed
    env.close()


KNOB_SETTINGS = [
    ({"target_in_closed": True}, [2, 3]),
    ({"target_in_closed": False, "num_receptacles": 4}, [4]),
    ({"num_receptacles": 3, "num_distractors": 0}, [5]),
    ({"num_receptacles": 2, "task_types": "pick_two_obj_and_place"}, [0]),
    ({"num_distractors": 15}, [6]),
    (
        {
            "layout": {"receptacles": ["Drawer", "Drawer", "Desk", "SideTable", "Bed"]},
            "task_types": [1, 2, 6],  # a bedroom: no sink, microwave or fridge
        },
        [6, 7],
    ),
]


@pytest.mark.parametrize(("knobs", "seeds"), KNOB_SETTINGS)
def test_walkthroughs_win_every_knob(knobs: dict, seeds: list, engine_ready, cache) -> None:
    env = ALFWorldGenEnv(
        cache_dir=cache, **{"task_types": list(TASK_TYPES), **knobs}, engine="textworld"
    )
    for seed in seeds:
        _play(env, seed)
    env.close()


def test_game_files_are_cached_and_deterministic(tmp_path: Path) -> None:
    one = ALFWorldGenEnv(cache_dir=tmp_path / "one", num_distractors=2)
    two = ALFWorldGenEnv(cache_dir=tmp_path / "two", num_distractors=2)
    path = one.game_path(42)
    assert path.name == "game_42.tw-pddl" and path.parent.parent == tmp_path / "one"
    assert path.read_bytes() == two.game_path(42).read_bytes()
    assert json.loads(path.read_text()) == generate.generate_game(42, num_distractors=2)
    assert one.walkthrough(42) == generate.generate_game(42, num_distractors=2)["walkthrough"]
    # other knobs, another folder; the same knobs, the same file
    other = ALFWorldGenEnv(cache_dir=tmp_path / "one", num_distractors=3).game_path(42)
    assert other.parent != path.parent
    mtime = path.stat().st_mtime_ns
    assert one.game_path(42) == path and path.stat().st_mtime_ns == mtime


def test_task_types_cycle_by_seed(tmp_path: Path) -> None:
    env = ALFWorldGenEnv(task_types=[1, 4], cache_dir=tmp_path)
    assert [env.task_type_of(s) for s in range(4)] == [TASK_TYPES[0], TASK_TYPES[3]] * 2
    assert env.check_task_id(np.int64(9)) == 9
    for bad in (-1, 1.5, True, None, "3"):
        with pytest.raises(ValueError):
            env.check_task_id(bad)
    pool = ALFWorldGenEnv(num_seeds=3, cache_dir=tmp_path)
    with pytest.raises(ValueError):
        pool.check_task_id(3)


def test_check_env(engine_ready: None, tmp_path: Path) -> None:
    env = ALFWorldGenEnv(
        num_seeds=1, num_distractors=2, cache_dir=tmp_path, engine="textworld"
    )  # one engine load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    env.close()


def test_invalid_actions_and_pickling(engine_ready: None, cache: Path) -> None:
    env = ALFWorldGenEnv(cache_dir=cache, engine="textworld")
    clone = pickle.loads(pickle.dumps(env))
    assert clone._engine is None and clone.knobs == env.knobs
    _, before = env.reset(options={"task_id": 0})
    for action in ("go to the moon", "", "move", "x" * 10_000, None, 3):
        observation, reward, terminated, truncated, info = env.step(action)
        assert observation == NOTHING_HAPPENS and info["invalid_action"] is True
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert info["state_key"] == before["state_key"]
        assert info["admissible_actions"] == before["admissible_actions"]
    env.close()


def test_gym_make_with_time_limit(engine_ready: None, cache: Path) -> None:
    if ENV_ID not in gym.registry:  # until envs/__init__.py registers it
        gym.register(
            ENV_ID,
            entry_point="turngym.envs.alfworld.gen_env:ALFWorldGenEnv",
            max_episode_steps=50,
            disable_env_checker=True,
        )
    env = gym.make(ENV_ID, cache_dir=cache, engine="textworld")
    assert env.spec.max_episode_steps == 50
    _, info = env.reset(options={"task_id": 1})
    for action in env.unwrapped.walkthrough():
        _, reward, terminated, truncated, info = env.step(action)
    assert terminated and reward == 1.0 and info["won"]
    env.close()


def test_native_engine_plays_generated_games_with_the_expert(cache: Path) -> None:
    """The demo's setting: every task type generated, played on the native engine by
    ``expert_action()`` (the walkthrough), won within the step cap."""
    env = gym.make(
        ENV_ID,
        engine="native",
        task_types=None,
        num_receptacles=5,
        num_distractors=2,
        cache_dir=cache,
        max_episode_steps=20,
    )
    seen = set()
    for seed in range(12):
        _, info = env.reset(options={"task_id": seed})
        seen.add(info["task_type"])
        terminated = truncated = False
        while not (terminated or truncated):
            action = env.unwrapped.expert_action()
            assert action in info["admissible_actions"]
            _, reward, terminated, truncated, info = env.step(action)
        assert terminated and info["won"] and reward == 1.0, seed
    assert seen == set(TASK_TYPES)
    env.close()
