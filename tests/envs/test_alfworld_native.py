"""The native ALFWorld engine against the textworld reference, step by step, on real games.

Twelve ``valid_seen`` games (the first and the last of each task type): the walkthrough, then a
seeded random episode of 30 steps with some inadmissible commands mixed in. Every step must give
the same observation, admissible commands (same order), reward, done, won and state_key.
``bench/alfworld_engines.py`` runs the same check on every game. The games are unpacked as in
``test_alfworld.py``; tests skip with the reason when the archive or textworld is absent.
"""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import pytest
from test_alfworld import SPLIT, data_dir  # noqa: F401  (fixtures)

from turngym.envs import NOTHING_HAPPENS
from turngym.envs.alfworld import TASK_TYPES, ALFWorldEnv, GameFileError, list_games
from turngym.envs.alfworld.native_engine import NativeEngine, demangled_names

FIELDS = ("observation", "admissible_commands", "reward", "done", "won", "state_key")
RANDOM_STEPS = 30


def _split_dir(root: Path) -> Path:
    return root / "json_2.1.1" / SPLIT


def _chosen_games(split_dir: Path) -> list[str]:
    games = list_games(split_dir)
    chosen = []
    for task_type in TASK_TYPES:
        of_type = [g for g in games if g.startswith(task_type + "-")]
        chosen.extend(dict.fromkeys([of_type[0], of_type[-1]]))
    return chosen


def _assert_same(reference, native, where: str) -> None:
    for name in FIELDS:
        expected, got = getattr(reference, name), getattr(native, name)
        assert got == expected, (
            f"{name} differs at {where}:\nreference: {expected!r}\nnative:    {got!r}"
        )


def _bad_command(rng: random.Random, state, history: list[str]) -> str:
    choices = ["xyzzy", "go to the moon", " " + state.admissible_commands[0] + " "]
    stale = [c for c in history if c not in state.admissible_commands]
    if stale:
        choices.append(rng.choice(stale))
    return rng.choice(choices)


@pytest.fixture(scope="module")
def split_dir(data_dir: Path) -> Path:  # noqa: F811
    return _split_dir(data_dir)


@pytest.mark.slow  # ~100 s: every compared step on both engines
def test_native_matches_textworld(split_dir: Path, engine_ready: None) -> None:
    from turngym.envs.alfworld.textworld_engine import TextWorldEngine

    for game in _chosen_games(split_dir):
        path = split_dir / game
        reference, native = TextWorldEngine(), NativeEngine()
        reference.load(path)
        native.load(path)
        _assert_same(reference.reset(), native.reset(), f"{game} reset")
        for command in json.loads(path.read_text())["walkthrough"]:
            a, b = reference.step(command), native.step(command)
            _assert_same(a, b, f"{game} walkthrough {command!r}")
        assert b.won and b.done and b.reward == 1.0

        rng = random.Random(game)
        a, b = reference.reset(), native.reset()
        _assert_same(a, b, f"{game} second reset")
        history: list[str] = []
        for step in range(RANDOM_STEPS):
            bad = step % 6 == 5
            command = _bad_command(rng, a, history) if bad else rng.choice(a.admissible_commands)
            history.append(command)
            a, b = reference.step(command), native.step(command)
            _assert_same(a, b, f"{game} random step {step} {command!r}")
        reference.close()
        native.close()


# -- the native engine alone (no textworld needed) ------------------------------------------------
def test_demangled_names_number_sorted_ids_from_the_top() -> None:
    ids = [
        "drawer_bar__plus_01",
        "drawer_bar__minus_02",
        "agent1",
        "sink_bar__plus_00_bar_sinkbasin",
    ]
    names = demangled_names(ids)
    assert names["drawer_bar__minus_02"] == "drawer 2"  # sorted first, numbered highest
    assert names["drawer_bar__plus_01"] == "drawer 1"
    assert names["agent1"] == "agent1 "
    assert names["sink_bar__plus_00_bar_sinkbasin"] == "sinkbasin 1"


def test_native_env_plays_a_walkthrough(data_dir: Path) -> None:  # noqa: F811
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine="native")
    observation, info = env.reset(options={"task_id": 0})
    assert observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert info["task"] and "look" in info["admissible_actions"]
    observation, reward, terminated, _, info = env.step("no such thing")
    assert observation == NOTHING_HAPPENS and info["invalid_action"] and reward == 0.0
    for command in env.walkthrough():
        observation, reward, terminated, _, info = env.step(command)
    assert terminated and info["won"] and reward == 1.0
    with pytest.raises(NotImplementedError, match="planner"):
        env.expert_plan()
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset(options={"task_id": 0})[0] == env.reset(options={"task_id": 0})[0]
    env.close()


def test_native_names_a_corrupt_game(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    source = _split_dir(data_dir) / list_games(_split_dir(data_dir))[0]
    broken = tmp_path / "game.tw-pddl"
    data = json.loads(source.read_text())
    data["pddl_problem"] = data["pddl_problem"][: len(data["pddl_problem"]) // 2]
    broken.write_text(json.dumps(data))
    with pytest.raises(GameFileError, match="cannot load ALFWorld game"):
        NativeEngine().load(broken)
    engine = NativeEngine()
    with pytest.raises(RuntimeError, match="load"):
        engine.reset()


def test_incremental_state_key_equals_a_full_recount(split_dir: Path) -> None:
    """``state_key`` is updated fact by fact; after many steps it equals the digest of all facts
    (computed with the reference engine's ``facts_key`` rule), and it does not depend on the path:
    a state reached again gives the key it had before."""
    from turngym.envs.alfworld.textworld_engine import describes_state, fact_digest, format_key

    engine = NativeEngine()
    engine.load(split_dir / list_games(split_dir)[5])
    state = engine.reset()
    first_key = state.state_key
    rng = random.Random(7)
    for _ in range(40):
        state = engine.step(rng.choice(state.admissible_commands))
        text = engine._text
        recount = sum(
            fact_digest(text.render(pred, args))
            for pred, facts in text.facts.items()
            if describes_state(pred)
            for args in facts
        )
        assert state.state_key == format_key(recount)
    assert engine.reset().state_key == first_key


def test_native_expert_follows_the_walkthrough_then_refuses(data_dir: Path) -> None:  # noqa: F811
    env = ALFWorldEnv(split=SPLIT, data_dir=data_dir, engine="native")
    env.reset(options={"task_id": 3})
    walkthrough = env.walkthrough()
    for expected in walkthrough:
        assert env.expert_action() == expected
        env.step(env.expert_action())
    env.reset(options={"task_id": 3})
    env.step("inventory")  # off the walkthrough, and the native engine cannot plan
    with pytest.raises(ValueError, match="no planner"):
        env.expert_action()
