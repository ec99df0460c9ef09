"""TextWorld-v0: games from TextWorld's generator, played on its engine."""

import importlib.util

import gymnasium as gym
import pytest

import turngym.envs  # noqa: F401

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("textworld") is None, reason="needs the textworld package"
)
SMALL = {
    "cooking": {"recipe": 1, "go": 1},
    "treasure_hunter": {"level": 1},
    "coin_collector": {"level": 1},
}


@pytest.mark.parametrize("challenge", sorted(SMALL))
def test_the_expert_plan_wins_and_rewards_add_up_to_the_score(challenge):
    env = gym.make("turngym/TextWorld-v0", challenge=challenge, settings=SMALL[challenge])
    observation, info = env.reset(options={"task_id": 1})
    assert info["task"] and info["admissible_actions"] and info["task_type"] == challenge
    total, terminated = 0.0, False
    for command in env.unwrapped.expert_plan():
        assert command in info["admissible_actions"]
        observation, reward, terminated, truncated, info = env.step(command)
        total += reward
        assert not info["invalid_action"]
    assert terminated and info["won"] and not info["lost"]
    assert total == info["score"] == info["max_score"] > 0
    env.close()


def test_same_task_id_same_game_and_a_cached_file():
    env = gym.make("turngym/TextWorld-v0", challenge="coin_collector", settings={"level": 1})
    first, info = env.reset(options={"task_id": 1})
    game = env.unwrapped.folder / "game_1.z8"
    stamp = game.stat().st_mtime_ns
    again, info_again = env.reset(options={"task_id": 1})
    assert (first, info["state_key"]) == (again, info_again["state_key"])
    assert game.stat().st_mtime_ns == stamp  # reused, not regenerated


def test_dense_reward_uses_the_engines_intermediate_reward():
    env = gym.make("turngym/TextWorld-v0", challenge="coin_collector", settings={"level": 1},
                   dense_reward=True)  # fmt: skip
    _, info = env.reset(options={"task_id": 1})
    rewards = [env.step(c)[1] for c in env.unwrapped.expert_plan()]
    assert rewards and all(r == 1.0 for r in rewards)  # every expert step makes progress


def test_inadmissible_commands_never_reach_the_interpreter():
    env = gym.make("turngym/TextWorld-v0", challenge="coin_collector", settings={"level": 1})
    _, info = env.reset(options={"task_id": 1})
    for action in ["é∂ƒ 🤖 中文", "x" * 5000, "bell\x07", "\x00", "xyzzy", ""]:
        observation, reward, terminated, _, step_info = env.step(action)
        assert observation == "Nothing happens." and step_info["invalid_action"]
        assert step_info["state_key"] == info["state_key"] and reward == 0 and not terminated
    observation, *_ = env.step("  LOOK ")  # admissible after normalization: the engine answers
    assert observation != "Nothing happens."


def test_bad_settings_name_what_is_allowed():
    with pytest.raises(ValueError, match="allowed"):
        gym.make("turngym/TextWorld-v0", challenge="coin_collector", settings={"recipe": 2})
    with pytest.raises(ValueError, match="coin_collector"):
        gym.make("turngym/TextWorld-v0", challenge="zork")


def test_a_cold_cache_warns_nothing_even_after_textworld_is_imported(tmp_path):
    """Generating a game (jericho loads it to check the walkthrough) emits no warning, whatever
    the import order: textworld's own global filter is overridden by a caller's "always"."""
    import warnings

    import textworld  # noqa: F401  (imported first, as an earlier test would have)

    env = gym.make(
        "turngym/TextWorld-v0", challenge="coin_collector", cache_dir=str(tmp_path / "games")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env.reset(options={"task_id": 3})
    assert (tmp_path / "games" / "game_3.z8").exists()  # generated now, not read from a cache
    assert [str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)] == []
    env.close()
