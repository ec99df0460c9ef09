"""The README's examples run as written."""

import re
from pathlib import Path

import gymnasium as gym
from gymnasium.utils.env_checker import check_env

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, f"README example {name!r} not found"
    return match.group(1)


def test_custom_env_example_runs_and_passes_the_env_checker():
    namespace: dict = {}
    exec(compile(readme_example("custom-env"), "README.md", "exec"), namespace)
    env = gym.make("turngym/GuessNumber-v0")
    check_env(env.unwrapped)
    assert "turngym/GuessNumber-v0" in __import__("turngym.envs").envs.list_envs()
