"""turngym's text environments. Importing this package registers every ``turngym/`` id.

Example:
    >>> import gymnasium as gym
    >>> import turngym.envs
    >>> env = gym.make("turngym/Household-v0")
    >>> observation, info = env.reset(seed=0)
"""

from .core import NOTHING_HAPPENS, STANDARD_INFO_KEYS, TextEnv, normalize_command
from .registry import (
    check_env_id,
    check_env_kwargs,
    import_env_modules,
    list_envs,
    register_env,
)
from .spaces import AnyText

register_env("Household-v0", "turngym.envs.household:HouseholdEnv", max_episode_steps=15)
register_env("TextWorld-v0", "turngym.envs.textworld_games:TextWorldEnv", max_episode_steps=50)
register_env("ALFWorld-v0", "turngym.envs.alfworld.env:ALFWorldEnv", max_episode_steps=50)
register_env(
    "ALFWorld-Gen-v0", "turngym.envs.alfworld.gen_env:ALFWorldGenEnv", max_episode_steps=50
)
register_env("WebShop-v0", "turngym.envs.webshop.text_env:WebShopEnv", max_episode_steps=15)
register_env(
    "TwentyQuestions-v0",
    "turngym.envs.dialogue.twenty_questions:TwentyQuestionsEnv",
    max_episode_steps=20,
)
register_env(
    "GuessMyCity-v0", "turngym.envs.dialogue.guess_my_city:GuessMyCityEnv", max_episode_steps=20
)
register_env(
    "CustomerService-v0",
    "turngym.envs.dialogue.customer_service:CustomerServiceEnv",
    max_episode_steps=10,
)
register_env(
    "WebShop-Browser-v0", "turngym.envs.webshop.browser_env:WebShopBrowserEnv", max_episode_steps=15
)
register_env("Math-v0", "turngym.envs.math.env:MathEnv", max_episode_steps=1)
register_env("MathMultiTurn-v0", "turngym.envs.math.env:MathMultiTurnEnv", max_episode_steps=8)
register_env("MathTool-v0", "turngym.envs.math.tool_env:MathToolEnv", max_episode_steps=8)

__all__ = [
    "NOTHING_HAPPENS",
    "STANDARD_INFO_KEYS",
    "AnyText",
    "TextEnv",
    "check_env_id",
    "check_env_kwargs",
    "import_env_modules",
    "list_envs",
    "normalize_command",
    "register_env",
]
