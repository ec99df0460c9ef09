"""``turngym/ALFWorld-Gen-v0``: unlimited procedurally generated ALFWorld games.

The task id is the generator's seed (any int >= 0). ``reset`` generates the game of that seed
with ``generate.generate_game`` (unless it is already cached), writes it as a ``game.tw-pddl``
file and plays it on the same engines as ``turngym/ALFWorld-v0`` (the native one by default, or
textworld's PDDL env with ALFWorld's wrappers), through ``ALFWorldEnv``'s code::

    env = gymnasium.make("turngym/ALFWorld-Gen-v0", task_types=["pick_and_place_simple"],
                         num_distractors=2, target_in_closed=True)
    observation, info = env.reset(options={"task_id": 123})
    env.unwrapped.walkthrough()     # the expert's commands for seed 123

Games are cached under ``$TURNGYM_CACHE/alfworld_gen/<knobs-hash>/game_<seed>.tw-pddl``
(default ``~/.cache/turngym/...``); the hash covers the generator's knobs and version, so a
change of either writes new files. Observations, admissible actions and ``info`` keys are those
of ``ALFWorld-v0`` (``task``, ``task_type``, ``admissible_actions``, ``state_key``, ``won``,
``invalid_action``, plus ``game``: the file played).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core import TextEnv
from .data import check_task_types, expert_actions
from .env import DEFAULT_ENGINE, ENGINES, ALFWorldEnv, task_text
from .generate import DEFAULT_NUM_DISTRACTORS, GENERATOR_VERSION, check_knobs, generate_game

GAME_FILE_PATTERN = "game_{seed}.tw-pddl"


def default_cache_dir() -> Path:
    """``$TURNGYM_CACHE/alfworld_gen`` (default ``~/.cache/turngym/alfworld_gen``)."""
    base = os.environ.get("TURNGYM_CACHE") or "~/.cache/turngym"
    return Path(base).expanduser() / "alfworld_gen"


def knobs_hash(knobs: Mapping[str, Any]) -> str:
    """A short digest of the generator's arguments (seed left out) and version."""
    text = json.dumps({"version": GENERATOR_VERSION, **knobs}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ALFWorldGenEnv(ALFWorldEnv):
    """Generated ALFWorld games (see the module docstring).

    Args:
        task_types: the task type(s) to generate (names, or ALFWorld's numbers 1-6); with
            several, seed ``s`` gets ``task_types[s % len(task_types)]``.
        num_receptacles: receptacles per room (``None``: all of the FloorPlan's).
        num_distractors: objects besides the task's own.
        target_in_closed: the task's object starts in a closed receptacle (``True``), on an
            open one (``False``) or either (``None``).
        layout: a FloorPlan name (``"FloorPlan301"``), a scene dict, or ``None`` (drawn by seed).
        num_seeds: ``reset`` without a task id draws seeds from ``[0, num_seeds)`` and only
            those are accepted (a fixed pool of games); ``None``: any seed ``>= 0``.
        cache_dir: where game files go (default ``$TURNGYM_CACHE/alfworld_gen``).
        engine: ``"native"`` (default) or ``"textworld"``, the reference engine.
        render_mode: ``"ansi"`` or ``"human"``.
    """

    def __init__(
        self,
        task_types: list[str] | str | int | None = "pick_and_place_simple",
        num_receptacles: int | None = None,
        num_distractors: int = DEFAULT_NUM_DISTRACTORS,
        target_in_closed: bool | None = None,
        layout: str | Mapping[str, Any] | None = None,
        num_seeds: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        engine: str = DEFAULT_ENGINE,
        render_mode: str | None = None,
    ):
        TextEnv.__init__(self, render_mode=render_mode)
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r} is not supported; choose one of {list(ENGINES)}")
        self.task_types = check_task_types(task_types)
        for task_type in self.task_types:
            check_knobs(task_type, num_receptacles, num_distractors, target_in_closed)
        self.knobs: dict[str, Any] = {
            "num_receptacles": num_receptacles,
            "num_distractors": num_distractors,
            "target_in_closed": target_in_closed,
            "layout": dict(layout) if isinstance(layout, Mapping) else layout,
        }
        if num_seeds is not None and (
            isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1
        ):
            raise ValueError(f"num_seeds must be an int >= 1 or None, got {num_seeds!r}")
        self.num_tasks = num_seeds
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.engine_name = engine
        self._engine = None
        self._state = None
        self._task = ""
        self._commands: list[str] = []

    # -- tasks ---------------------------------------------------------------------------------
    def check_task_id(self, task_id: Any) -> int:
        """A seed: an int >= 0 (below ``num_seeds`` if set; numpy ints too)."""
        if isinstance(task_id, numbers.Integral) and not isinstance(task_id, bool):
            return TextEnv.check_task_id(self, int(task_id))
        raise ValueError(f"task_id must be an int seed >= 0, got {task_id!r}")

    def task_type_of(self, task_id: Any) -> str:
        """The task type seed ``task_id`` gets."""
        return self.task_types[self.check_task_id(task_id) % len(self.task_types)]

    def generator_kwargs(self, task_id: Any) -> dict[str, Any]:
        """The ``generate_game`` arguments of a seed (``seed`` included)."""
        seed = self.check_task_id(task_id)
        return {"seed": seed, "task_type": self.task_type_of(seed), **self.knobs}

    def game_path(self, task_id: Any) -> Path:
        """The game file of a seed, generated and written first if it is not cached yet."""
        kwargs = self.generator_kwargs(task_id)
        seed = kwargs.pop("seed")
        path = self.cache_dir / knobs_hash(kwargs) / GAME_FILE_PATTERN.format(seed=seed)
        if not path.is_file():
            write_atomically(path, json.dumps(generate_game(seed, **kwargs), indent=1))
        return path

    def walkthrough(self, task_id: Any | None = None) -> list[str]:
        """The expert walkthrough of seed ``task_id`` (default: the current task)."""
        task_id = self.task_id if task_id is None else task_id
        if task_id is None:
            raise ValueError("no current task: pass task_id or call reset() first")
        return expert_actions(self.game_path(task_id))

    # -- TextEnv -------------------------------------------------------------------------------
    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self._commands = []
        path = self.game_path(task_id)
        if self._engine is None:
            self._engine = ENGINES[self.engine_name]()
        self._state = None
        self._engine.load(path)
        self._state = self._engine.reset()
        self._task = task_text(self._state.observation)
        return self._state.observation, {"game": str(path), **self.state_info()}

    def state_info(self) -> dict[str, Any]:
        if self._state is None or self.task_id is None:
            return {}
        return {
            "task": self._task,
            "task_type": self.task_type_of(self.task_id),
            "admissible_actions": list(self._state.admissible_commands),
            "state_key": self._state.state_key,
            "won": self._state.won,
        }
