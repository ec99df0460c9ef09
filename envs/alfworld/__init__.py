"""``turngym/ALFWorld-v0``: ALFWorld's household text games (Shridhar et al., 2021).

``data`` finds and lists the games, ``textworld_engine`` plays them on the reference engine
(textworld's PDDL env with ALFWorld's wrappers) and ``env`` is the Gymnasium environment.
textworld and alfworld are imported only when a game is started; install them with
``pip install 'turngym[alfworld]'``.
"""

from .data import TASK_TYPES, GameFileError, expert_actions, find_split_dir, list_games
from .env import ALFWorldEnv

__all__ = [
    "TASK_TYPES",
    "ALFWorldEnv",
    "GameFileError",
    "expert_actions",
    "find_split_dir",
    "list_games",
]
