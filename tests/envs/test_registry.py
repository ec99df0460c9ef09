"""Every registered ``turngym/`` id follows the environment contract (DESIGN.md).

Ids that need extra packages or data get their constructor kwargs from :func:`env_kwargs`, or
are skipped there with the reason.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import turngym.envs
from turngym.envs import check_env_id, list_envs

ENV_IDS = list_envs()


def env_kwargs(env_id: str) -> dict[str, Any]:
    """Constructor kwargs for ``env_id``; skips the test when its package or data is absent."""
    if env_id == "turngym/ALFWorld-v0":
        if importlib.util.find_spec("textworld") is None:
            pytest.skip("ALFWorld-v0 needs the textworld/alfworld packages (not installed)")
        from turngym.envs.alfworld.textworld_engine import import_textworld

        try:
            import_textworld()
        except ImportError as error:
            pytest.skip(f"ALFWorld-v0 engine unavailable: {error}")
        # the games archive is unpacked by the same cache helper as test_alfworld.py
        from test_alfworld import ARCHIVE, SPLIT, _unpack_split

        if not ARCHIVE.is_file():
            pytest.skip(f"ALFWorld games not available: {ARCHIVE} is absent")
        return {
            "split": SPLIT,
            "data_dir": str(_unpack_split()),
            "task_types": ["pick_and_place_simple"],
        }
    if env_id == "turngym/ALFWorld-Gen-v0":
        if importlib.util.find_spec("textworld") is None:
            pytest.skip("ALFWorld-Gen-v0 needs the textworld/alfworld packages (not installed)")
        return {"num_seeds": 2}  # two generated games, loaded once each
    if env_id == "turngym/TextWorld-v0":
        if importlib.util.find_spec("textworld") is None:
            pytest.skip("TextWorld-v0 needs the textworld package (not installed)")
        # two small games, generated once into the cache and reused
        return {"challenge": "coin_collector", "settings": {"level": 5}, "num_tasks": 2}
    return {}


@pytest.fixture(params=ENV_IDS)
def env_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def kwargs(env_id: str) -> dict[str, Any]:
    return env_kwargs(env_id)


@pytest.fixture
def env(env_id: str, kwargs: dict[str, Any]):
    environment = gym.make(env_id, **kwargs)
    yield environment
    environment.close()


def first_task_id(env: gym.Env) -> int:
    return 0 if env.unwrapped.num_tasks else 7


# -- the registry --------------------------------------------------------------------------------
def test_list_envs_and_check_env_id() -> None:
    assert "turngym/Household-v0" in ENV_IDS and "turngym/ALFWorld-v0" in ENV_IDS
    assert ENV_IDS == sorted(ENV_IDS) and all(i.startswith("turngym/") for i in ENV_IDS)
    assert all(i in gym.registry for i in ENV_IDS)
    assert check_env_id("turngym/Household-v0") == "turngym/Household-v0"
    with pytest.raises(ValueError) as caught:
        check_env_id("turngym/Nope-v0")
    message = str(caught.value)
    assert "turngym/Nope-v0" in message
    assert all(known in message for known in ENV_IDS)


def test_reimport_does_not_reregister() -> None:
    import importlib

    importlib.reload(turngym.envs)
    assert list_envs() == ENV_IDS


# -- the contract, per id ------------------------------------------------------------------------
def test_check_env(env: gym.Env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    # ResourceWarnings come from whatever the garbage collector frees meanwhile (textworld
    # leaves game files open), not from the checker
    warned = [str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)]
    assert not warned, "check_env warned"


def test_spaces_accept_any_text(env: gym.Env) -> None:
    for text in ("", "go to desk 1", "é∂ƒ 🤖 中文 \u200f\x00", "x" * 10_000):
        assert env.action_space.contains(text) and env.observation_space.contains(text)
    assert not env.action_space.contains(123) and not env.action_space.contains(b"bytes")


def play(env: gym.Env, seed: int, task_id: Any, steps: int = 12, action_seed: int = 0) -> list:
    """Reset, then play admissible actions drawn by a seeded RNG; the whole trace."""
    observation, info = env.reset(seed=seed, options={"task_id": task_id})
    trace: list = [(observation, info)]
    rng = np.random.default_rng(action_seed)
    for _ in range(steps):
        actions = info["admissible_actions"]
        action = actions[int(rng.integers(len(actions)))] if actions else "look"
        observation, reward, terminated, truncated, info = env.step(action)
        trace.append((action, observation, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return trace


def test_determinism(env_id: str, kwargs: dict[str, Any]) -> None:
    first, second = gym.make(env_id, **kwargs), gym.make(env_id, **kwargs)
    task_id = first_task_id(first)
    for seed, action_seed in ((0, 0), (5, 1), (123, 2)):
        a = play(first, seed, task_id, action_seed=action_seed)
        b = play(second, seed, task_id, action_seed=action_seed)
        assert a == b
        assert len(a) > 2 or a[-1][3] or a[-1][4]  # several steps, or a one-step episode
        # the seed does not change a pinned task
        assert play(first, seed + 1, task_id, steps=0) == a[:1]
    # without a task id, the seed picks the same task
    assert first.reset(seed=9)[1]["task_id"] == second.reset(seed=9)[1]["task_id"]
    first.close()
    second.close()


@pytest.mark.parametrize(
    "mode, vector_kwargs", [("sync", {}), ("async", {}), ("async", {"shared_memory": False})]
)
def test_make_vec_returns_text(
    env_id: str, kwargs: dict[str, Any], mode: str, vector_kwargs: dict
) -> None:
    single = gym.make(env_id, **kwargs)
    expected = [single.reset(seed=10 + i)[0] for i in range(2)]
    vec = gym.make_vec(
        env_id, num_envs=2, vectorization_mode=mode, vector_kwargs=vector_kwargs, **kwargs
    )
    try:
        observations, infos = vec.reset(seed=10)
        assert list(observations) == expected
        assert all(isinstance(o, str) and o and set(o) != {"0"} for o in observations)
        actions = tuple(infos["admissible_actions"][i][0] for i in range(2))
        observations, rewards, terminated, truncated, infos = vec.step(actions)
        single_after = []
        for i in range(2):
            single.reset(seed=10 + i)
            single_after.append(single.step(actions[i])[0])
        assert list(observations) == single_after
        assert all(set(o) != {"0"} for o in observations)
        assert rewards.shape == (2,) and terminated.shape == truncated.shape == (2,)
        before, ended = list(observations), terminated | truncated
        observations, *_ = vec.step(("", "<<<>>>[[]]"))
        expected = [invalid_answer(single, o) for o in before]
        # an episode that ended (a one-step environment such as Math-v0) resets instead
        assert [o for o, e in zip(observations, ended, strict=True) if not e] == [
            o for o, e in zip(expected, ended, strict=True) if not e
        ]
    finally:
        vec.close()
        single.close()


def fuzz_actions() -> list[Any]:
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789 \t\n.,;:!?'\"()[]{}<>/-_")
    code_points = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, 0x110000)])
    actions: list[Any] = [
        "",
        " ",
        "\n\t ",
        "x" * 100_000,
        "<<<>>>[[]]",
        "\x00",
        "go to\x00 desk 1",
        "\u202egoto\u200f desk 1\u200e",
        "é∂ƒ©˙∆˚¬ 🤖 中文 العربية",
        "take",
        "go to",
        "move to",
        "put in",
        "put  in/on ",
        "go to " * 5000,
        "<action>go to desk 1</action>",
    ]
    actions += ["".join(rng.choice(alphabet, size=int(rng.integers(1, 80)))) for _ in range(30)]
    actions += [
        "".join(map(chr, rng.choice(code_points, size=int(rng.integers(1, 200)))))
        for _ in range(30)
    ]
    actions += [None, 123, 4.5, b"bytes", ["go to desk 1"], {"action": "go"}, object()]
    return actions


def invalid_answer(env: gym.Env, observation: str) -> str:
    """What ``env`` shows after an invalid action taken at ``observation``."""
    answer = env.unwrapped.invalid_action_answer
    return observation if answer is None else answer


def test_fuzz_never_raises_and_keeps_state(env: gym.Env) -> None:
    raw = env.unwrapped  # no time limit, so every action is tried on the same state
    start, info = raw.reset(seed=0, options={"task_id": first_task_id(env)})
    before_key, before_actions = info["state_key"], info["admissible_actions"]
    for action in fuzz_actions():
        observation, reward, terminated, truncated, info = raw.step(action)
        shown = repr(action)[:80]
        assert observation == invalid_answer(env, start), shown
        assert info["invalid_action"] is True, shown
        assert (reward, terminated, truncated) == (0.0, False, False), shown
        assert info["state_key"] == before_key, shown
        assert info["admissible_actions"] == before_actions, shown
    # the wrapped environment answers the same way
    start, _ = env.reset(seed=0, options={"task_id": first_task_id(env)})
    for action in (None, b"bytes", "x" * 100_000, "<<<>>>[[]]"):
        observation, *_, info = env.step(action)
        assert observation == invalid_answer(env, start) and info["invalid_action"] is True


def check_standard_info(info: dict[str, Any], task_id: Any) -> None:
    for key in ("task", "task_id", "admissible_actions", "state_key", "won"):
        assert key in info, key
    assert isinstance(info["task"], str) and info["task"]
    assert info["task_id"] == task_id
    actions = info["admissible_actions"]
    assert isinstance(actions, list) and actions and all(isinstance(a, str) for a in actions)
    hash(info["state_key"])
    assert isinstance(info["won"], bool)


def test_standard_info_keys(env: gym.Env) -> None:
    task_id = first_task_id(env)
    observation, info = env.reset(seed=1, options={"task_id": task_id})
    check_standard_info(info, task_id)
    assert info["task"] in observation
    start = info["state_key"]
    for action in info["admissible_actions"]:  # some admissible move changes the state ...
        env.reset(seed=1, options={"task_id": task_id})
        *_, moved = env.step(action)
        check_standard_info(moved, task_id)
        assert moved["invalid_action"] is False
        if moved["state_key"] != start:
            break
    assert moved["state_key"] != start
    *_, info = env.step("not a command")  # ... and an invalid one does not
    check_standard_info(info, task_id)
    assert info["invalid_action"] is True and info["state_key"] == moved["state_key"]
    # without options, the drawn task id is reported
    _, info = env.reset(seed=3)
    check_standard_info(info, info["task_id"])


def test_step_before_reset_raises(env: gym.Env) -> None:
    with pytest.raises(gym.error.ResetNeeded):
        env.unwrapped.step("look")


def test_reset_and_step_info_carry_the_same_standard_keys(env: gym.Env) -> None:
    """What the README promises: the always-present keys on reset and on every step, and the
    task facts reset shows (``task_type``) repeated on steps, valid or not."""
    always = {"task", "task_id", "admissible_actions", "state_key", "won", "invalid_action"}
    _, info = env.reset(seed=2, options={"task_id": first_task_id(env)})
    assert always <= info.keys() and info["invalid_action"] is False
    shown = (info.keys() & set(turngym.envs.STANDARD_INFO_KEYS)) | always
    for action in (info["admissible_actions"][0], "not a command"):
        *_, info = env.step(action)
        assert shown <= info.keys(), shown - info.keys()


def test_register_env_twice_is_a_no_op_but_a_different_entry_point_warns_and_replaces() -> None:
    from turngym.envs import register_env
    from turngym.envs.household import HouseholdEnv

    class Other(HouseholdEnv):
        pass

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the same registration again: silent
            register_env("RegistryProbe-v0", HouseholdEnv, max_episode_steps=5)
            register_env("RegistryProbe-v0", HouseholdEnv, max_episode_steps=5)
        with pytest.warns(UserWarning, match="already registered.*replacing"):
            register_env("RegistryProbe-v0", Other, max_episode_steps=5)
        assert gym.spec("turngym/RegistryProbe-v0").entry_point is Other
        with pytest.warns(UserWarning, match="already registered"):
            register_env("RegistryProbe-v0", Other, max_episode_steps=9)  # another step cap
        assert gym.spec("turngym/RegistryProbe-v0").max_episode_steps == 9
    finally:
        del gym.registry["turngym/RegistryProbe-v0"]
