"""turngym/ALFWorld-v0 on the reference textworld engine, played on real ALFWorld games.

The games come from ``../shared/data/alfworld/<archive>.tar.xz`` (relative to the repository
root); only the ``valid_seen`` split is unpacked, once, into ``$TURNGYM_CACHE/alfworld`` (default
``~/.cache/turngym/alfworld``). Tests skip with the reason when the archive or the
textworld/alfworld packages are absent.
"""

from __future__ import annotations

import pickle
import re
import shutil
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from shared_data import ALFWORLD_ARCHIVE as ARCHIVE
from shared_data import ALFWORLD_SPLIT as SPLIT
from shared_data import unpack_alfworld_split as _unpack_split

import turngym.envs  # noqa: F401  (registers the ids)
from turngym.envs import NOTHING_HAPPENS
from turngym.envs.alfworld import TASK_TYPES, ALFWorldEnv, GameFileError, expert_actions
from turngym.envs.alfworld.data import load_game
from turngym.envs.alfworld.env import task_text
from turngym.envs.core import put_alias

ENGINE = "textworld"  # these tests pin the reference engine; the native one is checked against it


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not ARCHIVE.is_file():
        pytest.skip(f"ALFWorld games not available: {ARCHIVE} is absent")
    return _unpack_split()


@pytest.fixture(scope="module")
def env(data_dir: Path, engine_ready: None) -> ALFWorldEnv:
    environment = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    yield environment
    environment.close()


def _one_per_task_type(env: ALFWorldEnv) -> list[int]:
    first: dict[str, int] = {}
    for index, game in enumerate(env.games):
        first.setdefault(game.split("-", 1)[0], index)
    return [first[task_type] for task_type in TASK_TYPES if task_type in first]


# -- without the engine ------------------------------------------------------------------------
def test_missing_data_dir_names_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as caught:
        ALFWorldEnv(split="valid_seen", data_dir=missing)
    message = str(caught.value)
    assert str(missing / "json_2.1.1" / "valid_seen") in message
    assert "alfworld-download" in message and "shared/data" in message


def test_missing_default_data_names_alfworld_data(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="ALFWORLD_DATA"):
        gym.make("turngym/ALFWorld-v0", split="valid_unseen")


def test_split_and_task_type_filter(data_dir: Path) -> None:
    every = ALFWorldEnv(split="eval_in_distribution", data_dir=data_dir)
    assert every.split == "valid_seen" and every.num_tasks == len(every.games) == 140
    assert every.games == sorted(every.games)
    heat = ALFWorldEnv(split=SPLIT, data_dir=data_dir, task_types=["pick_heat_then_place_in_recep"])
    assert 0 < heat.num_tasks < every.num_tasks
    assert all(g.startswith("pick_heat_then_place_in_recep-") for g in heat.games)
    by_number = ALFWorldEnv(split=SPLIT, data_dir=data_dir, task_types=[4])
    assert by_number.games == heat.games
    two = ALFWorldEnv(split=SPLIT, data_dir=data_dir, task_types=TASK_TYPES[:2])
    assert {g.split("-", 1)[0] for g in two.games} == set(TASK_TYPES[:2])
    with pytest.raises(ValueError, match="unknown ALFWorld task type"):
        ALFWorldEnv(split=SPLIT, data_dir=data_dir, task_types=["pick_and_eat"])
    # the split folder itself is also accepted as data_dir
    direct = ALFWorldEnv(split=SPLIT, data_dir=data_dir / "json_2.1.1" / SPLIT)
    assert direct.games == every.games


def test_task_id_forms(data_dir: Path) -> None:
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    game = env.games[7]
    assert env.check_task_id(7) == env.check_task_id(np.int64(7)) == 7
    assert env.check_task_id(game) == 7
    assert env.check_task_id(game.rsplit("/", 1)[0]) == 7  # without "/game.tw-pddl"
    for bad in (-1, env.num_tasks, "no-such-game/trial", 1.5, True, None):
        with pytest.raises(ValueError):
            env.check_task_id(bad)


def test_corrupt_game_file_is_named(data_dir: Path, tmp_path: Path) -> None:
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    source = env.split_dir / env.games[0]
    broken = tmp_path / env.games[0]
    broken.parent.mkdir(parents=True)
    broken.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(GameFileError, match=re.escape(str(broken))):
        load_game(broken)
    with pytest.raises(GameFileError, match=re.escape(str(broken))):
        expert_actions(broken)


def test_expert_actions_and_helpers(data_dir: Path) -> None:
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    walkthrough = expert_actions(env.game_path(0))
    assert walkthrough and all(isinstance(a, str) for a in walkthrough)
    assert walkthrough == env.walkthrough(0) == expert_actions(load_game(env.game_path(0)))
    assert put_alias("put mug 1 in/on coffeemachine 1") == "move mug 1 to coffeemachine 1"
    assert put_alias("put mug 1 on desk 1") == "move mug 1 to desk 1"
    assert put_alias("go to desk 1") is None
    assert task_text("-= Welcome =-\n\nYour task is to: put a mug in desk.") == "put a mug in desk."


def test_pickles_before_start(data_dir: Path) -> None:
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.games == env.games and clone._engine is None


# -- on the engine -----------------------------------------------------------------------------
def test_check_env(data_dir: Path, engine_ready: None, tmp_path: Path) -> None:
    # check_env resets many times with random seeds: two games keep it quick
    every = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    for game in [every.games[i] for i in _one_per_task_type(every)[:2]]:
        (tmp_path / game).parent.mkdir(parents=True)
        shutil.copy(every.split_dir / game, tmp_path / game)
    env = ALFWorldEnv(split=SPLIT, data_dir=tmp_path, engine=ENGINE)
    assert env.num_tasks == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    env.close()


def test_walkthroughs_win(env: ALFWorldEnv) -> None:
    for task_id in _one_per_task_type(env):
        observation, info = env.reset(options={"task_id": task_id})
        assert observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
        assert info["task"] and info["task"] in observation
        assert info["task_type"] == env.games[task_id].split("-", 1)[0]
        assert info["task_id"] == task_id and info["game"] == env.games[task_id]
        assert info["won"] is False and info["admissible_actions"]
        walkthrough = env.walkthrough()
        for number, action in enumerate(walkthrough, 1):
            assert action in info["admissible_actions"], (env.games[task_id], action)
            observation, reward, terminated, truncated, info = env.step(action)
            assert not info["invalid_action"] and observation != NOTHING_HAPPENS
            assert terminated == (number == len(walkthrough)) and not truncated
        assert reward == 1.0 and info["won"] is True, env.games[task_id]


def test_gym_make_wins_with_time_limit(data_dir: Path, engine_ready: None) -> None:
    env = gym.make(
        "turngym/ALFWorld-v0", split=SPLIT, data_dir=data_dir, task_types=[1], engine=ENGINE
    )
    assert env.spec.max_episode_steps == 50
    _, info = env.reset(seed=3)
    for action in env.unwrapped.walkthrough():
        _, reward, terminated, truncated, info = env.step(action)
    assert terminated and reward == 1.0 and info["won"]
    env.close()


def test_inadmissible_action(env: ALFWorldEnv) -> None:
    _, before = env.reset(options={"task_id": 0})
    for action in ("go to the moon", "take everything", "", "   ", "move"):
        observation, reward, terminated, truncated, info = env.step(action)
        assert observation == NOTHING_HAPPENS
        assert info["invalid_action"] is True
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert info["state_key"] == before["state_key"]
        assert info["admissible_actions"] == before["admissible_actions"]
    # case and spacing do not matter
    first = before["admissible_actions"][0]
    _, _, _, _, info = env.step("  " + first.upper().replace(" ", "   ") + " ")
    assert info["invalid_action"] is False


def test_put_alias(env: ALFWorldEnv) -> None:
    with_move = [
        i for i in _one_per_task_type(env) if any(a.startswith("move ") for a in env.walkthrough(i))
    ]
    for task_id, preposition in zip(with_move[:2], ("in/on", "on"), strict=True):
        env.reset(options={"task_id": task_id})
        walkthrough = env.walkthrough()
        move = next(i for i, a in enumerate(walkthrough) if a.startswith("move "))
        for action in walkthrough[:move]:
            env.step(action)
        obj, receptacle = walkthrough[move][len("move ") :].split(" to ")
        observation, _, _, _, info = env.step(f"put {obj} {preposition} {receptacle}")
        assert info["invalid_action"] is False
        assert observation.startswith(f"You move the {obj} to the {receptacle}")


def test_fuzz_never_raises(env: ALFWorldEnv) -> None:
    env.reset(options={"task_id": 1})
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789 /\t\n.,;:!?'\"()[]{}<>-_")
    actions = [
        "x" * 100_000,
        "go to " + "desk 1 " * 600,
        "é∂ƒ©˙∆˚¬ 🤖 中文 العربية",
        "\x00\x01\x1b[31m",
        "put  in/on ",
        "put in on",
        "move to",
        "take {o} from {r}",
        "go to %s",
        "<action>look</action>",
    ]
    actions += ["".join(rng.choice(alphabet, size=int(rng.integers(0, 60)))) for _ in range(40)]
    actions += [None, 3, b"look", ["look"]]
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        assert isinstance(observation, str) and isinstance(info["invalid_action"], bool)
        if info["invalid_action"]:
            assert observation == NOTHING_HAPPENS and reward == 0.0


def test_determinism_and_state_key(data_dir: Path, env: ALFWorldEnv) -> None:
    task_id = _one_per_task_type(env)[0]
    other = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    runs = []
    for player in (env, other, env):  # a second env, and the same env again
        observation, info = player.reset(options={"task_id": task_id})
        trace = [(observation, info["state_key"], tuple(info["admissible_actions"]))]
        local = np.random.default_rng(1)
        for _ in range(6):
            action = info["admissible_actions"][
                int(local.integers(len(info["admissible_actions"])))
            ]
            observation, _, terminated, _, info = player.step(action)
            trace.append((observation, info["state_key"], tuple(info["admissible_actions"])))
            if terminated:
                break
        runs.append(trace)
    assert runs[0] == runs[1] == runs[2]
    other.close()

    # history-free: going somewhere and coming back gives back the same key
    _, info = env.reset(options={"task_id": task_id})
    gotos = [a for a in info["admissible_actions"] if a.startswith("go to ")]
    keys = []
    for action in (gotos[0], gotos[1], gotos[0]):
        _, _, _, _, info = env.step(action)
        keys.append(info["state_key"])
    assert keys[0] == keys[2] != keys[1]
    hash(keys[0])


def test_pickled_started_env_needs_reset(env: ALFWorldEnv) -> None:
    env.reset(options={"task_id": 2})
    clone = pickle.loads(pickle.dumps(env))
    with pytest.raises(gym.error.ResetNeeded):
        clone.step("look")
    observation, _ = clone.reset(options={"task_id": 2})
    assert observation == env.reset(options={"task_id": 2})[0]
    clone.close()


def test_expert_plan_wins(env: ALFWorldEnv) -> None:
    env.reset(options={"task_id": 3})
    env.step(env.walkthrough()[0])
    plan = env.expert_plan()
    for action in plan:
        _, reward, terminated, _, info = env.step(action)
        assert not info["invalid_action"]
    assert terminated and reward == 1.0


def test_corrupt_game_file_on_reset(data_dir: Path, tmp_path: Path, engine_ready: None) -> None:
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine=ENGINE)
    broken = tmp_path / env.games[0]
    broken.parent.mkdir(parents=True)
    broken.write_bytes((env.split_dir / env.games[0]).read_bytes()[:5000])
    broken_env = ALFWorldEnv(split=SPLIT, data_dir=tmp_path, engine=ENGINE)
    with pytest.raises(GameFileError, match=re.escape(str(broken))):
        broken_env.reset(options={"task_id": 0})
