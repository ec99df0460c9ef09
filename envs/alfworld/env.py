"""``turngym/ALFWorld-v0``: ALFWorld's text games.

Two engines play them. ``engine="native"`` (the default) is turngym's pure-Python interpreter of
the alfred domain (``native_engine.py``): about 100x faster per step and 350-500x faster to load a
game, and checked step by step against the reference on every ``valid_seen`` and ``valid_train``
game and 300 ``train`` games (``bench/alfworld_engines.py``, figures in ``bench/README.md``).
``engine="textworld"`` is the reference: textworld's PDDL env with ALFWorld's wrappers, what the
papers used; it also plans from any state (``expert_plan``).

Each task is one ``game.tw-pddl`` of a split (see ``data.py`` for where games are looked for)::

    env = gymnasium.make("turngym/ALFWorld-v0", split="valid_seen",
                         task_types=["pick_and_place_simple"])
    observation, info = env.reset(options={"task_id": 0})   # or a game's relative path
    observation, reward, terminated, truncated, info = env.step("go to desk 1")

Observations, admissible commands (in the engine's order), feedback, reward and ``won`` are the
reference engine's. Differences from playing the engine directly, all on the action side:

- actions are matched after lower-casing, trimming and collapsing white space;
- ALFWorld's pre-0.4 ``put X in/on Y`` (also ``put X in Y`` / ``put X on Y``) is accepted for
  ``move X to Y`` when the former is not itself admissible;
- an inadmissible action is not sent to the engine; the answer is the engine's own
  "Nothing happens." with the state unchanged, and ``info["invalid_action"]`` is ``True``.

``info`` has ``task`` (the goal sentence after "Your task is to: "), ``task_type``, ``task_id``
(the game's index in the sorted game list), ``game`` (its path relative to the split folder),
``admissible_actions``, ``state_key`` (an order-free digest of the PDDL facts, leaving out
the history-only predicates ``checked``/``examined``/``wasInReceptacle`` and Fast Downward's
negated atoms ``not_*``: equal keys mean equal game states, however they were reached),
``won`` and ``invalid_action``.

The engine starts in ``reset`` (not in ``__init__``), so a fresh environment pickles cheaply into
worker processes; pickling a started one drops the engine and needs a new ``reset``.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from ..core import NOTHING_HAPPENS, TextEnv, normalize_command, put_alias
from .data import (
    GAME_FILE,
    HOW_TO_GET_DATA,
    canonical_split,
    check_task_types,
    expert_actions,
    find_split_dir,
    list_games,
    task_type_of,
)
from .native_engine import NativeEngine
from .textworld_engine import EngineState, TextWorldEngine

ENGINES = {"textworld": TextWorldEngine, "native": NativeEngine}
DEFAULT_ENGINE = "native"
TASK_PREFIX = "Your task is to: "


def task_text(observation: str) -> str:
    """The goal sentence of a game's first observation (``""`` if it has none)."""
    _, found, rest = observation.partition(TASK_PREFIX)
    return rest.strip().split("\n", 1)[0] if found else ""


class ALFWorldEnv(TextEnv):
    """ALFWorld text games (see the module docstring).

    Args:
        split: ``train``, ``valid_seen``, ``valid_unseen`` (or ALFWorld's
            ``eval_in_distribution`` / ``eval_out_of_distribution``), a folder name under
            ``json_2.1.1``.
        task_types: keep only these task types (names, or ALFWorld's numbers 1-6); all six by
            default.
        data_dir: where the games are: a folder holding ``json_2.1.1/<split>``, or ``<split>``,
            or the split folder itself. Default: ``$ALFWORLD_DATA`` (``~/.cache/alfworld``).
        engine: ``"native"`` (default), turngym's fast interpreter, or ``"textworld"``, the
            reference engine (needed for ``expert_plan`` off the walkthrough).
        render_mode: ``"ansi"`` or ``"human"``.
    """

    def __init__(
        self,
        split: str = "train",
        task_types: list[str] | str | None = None,
        data_dir: str | os.PathLike | None = None,
        engine: str = DEFAULT_ENGINE,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r} is not supported; choose one of {list(ENGINES)}")
        self.split = canonical_split(split)
        self.task_types = check_task_types(task_types)
        self.split_dir: Path = find_split_dir(data_dir, self.split)
        self.games: list[str] = list_games(self.split_dir, self.task_types)
        if not self.games:
            raise FileNotFoundError(
                f"no ALFWorld games of task types {list(self.task_types)} under {self.split_dir}. "
                f"{HOW_TO_GET_DATA}"
            )
        self._game_index = {game: index for index, game in enumerate(self.games)}
        self.num_tasks = len(self.games)
        self.engine_name = engine
        self._engine: TextWorldEngine | None = None
        self._state: EngineState | None = None
        self._task = ""
        self._commands: list[str] = []  # sent to the engine this episode (for the expert)

    # -- tasks ---------------------------------------------------------------------------------
    def check_task_id(self, task_id: Any) -> int:
        """An index into ``self.games`` or a game's relative path; returns the index."""
        if isinstance(task_id, (str, os.PathLike)):
            game = Path(task_id).as_posix().strip("/")
            if not game.endswith(GAME_FILE):
                game = f"{game}/{GAME_FILE}"
            if game not in self._game_index:
                raise ValueError(
                    f"task_id={str(task_id)!r} is not a game of split {self.split!r} with task "
                    f"types {list(self.task_types)} under {self.split_dir} "
                    f"(e.g. {self.games[0]!r})"
                )
            return self._game_index[game]
        if isinstance(task_id, numbers.Integral) and not isinstance(task_id, bool):
            return super().check_task_id(int(task_id))
        raise ValueError(
            f"task_id must be an int in [0, {self.num_tasks}) or a game's relative path, "
            f"got {task_id!r}"
        )

    def game_path(self, task_id: Any) -> Path:
        """The ``game.tw-pddl`` file of a task."""
        return self.split_dir / self.games[self.check_task_id(task_id)]

    def walkthrough(self, task_id: Any | None = None) -> list[str]:
        """The expert walkthrough of ``task_id`` (default: the current task)."""
        task_id = self.task_id if task_id is None else task_id
        if task_id is None:
            raise ValueError("no current task: pass task_id or call reset() first")
        return expert_actions(self.game_path(task_id))

    def expert_plan(self) -> list[str]:
        """A planner's commands from the current state to the goal (Fast Downward)."""
        if self._state is None or self._engine is None:
            raise ValueError("call reset() before expert_plan()")
        return self._engine.plan()

    def expert_action(self) -> str:
        """The expert's next command: the walkthrough's while the episode has followed it,
        else the head of a plan from the current state (textworld engine only)."""
        if self._state is None or self.task_id is None:
            raise ValueError("call reset() before expert_action()")
        walkthrough = self.walkthrough()
        done = len(self._commands)
        if self._commands == walkthrough[:done] and done < len(walkthrough):
            return walkthrough[done]
        if self.engine_name == "native":
            raise ValueError(
                "the episode left the walkthrough and the native engine has no planner; "
                "use engine='textworld' for an expert from any state"
            )
        plan = self.expert_plan()
        if not plan:
            raise ValueError("the planner found nothing left to do (the goal already holds?)")
        return plan[0]

    # -- TextEnv -------------------------------------------------------------------------------
    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self._commands = []
        if self._engine is None:
            self._engine = ENGINES[self.engine_name]()
        self._state = None
        self._engine.load(self.split_dir / self.games[task_id])
        self._state = self._engine.reset()
        self._task = task_text(self._state.observation)
        return self._state.observation, {"game": self.games[task_id], **self.state_info()}

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self._engine is not None and self._state is not None
        command = normalize_command(action)
        admissible = self._state.admissible_commands
        if command not in admissible:
            alias = put_alias(command)
            if alias is None or alias not in admissible:
                return NOTHING_HAPPENS, 0.0, False, {"invalid_action": True, **self.state_info()}
            command = alias
        self._state = self._engine.step(command)
        self._commands.append(command)
        info = {"invalid_action": False, **self.state_info()}
        return self._state.observation, self._state.reward, self._state.done, info

    def state_info(self) -> dict[str, Any]:
        if self._state is None or self.task_id is None:
            return {}
        return {
            "task": self._task,
            "task_type": task_type_of(self.games[self.task_id]),
            "admissible_actions": list(self._state.admissible_commands),
            "state_key": self._state.state_key,
            "won": self._state.won,
        }

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        self._state = None
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_engine=None, _state=None, task_id=None, _task="", _commands=[])
        return state
