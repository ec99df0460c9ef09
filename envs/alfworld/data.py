"""Locating, listing and reading ALFWorld text games (``game.tw-pddl`` files).

``alfworld-download`` lays the games out as::

    $ALFWORLD_DATA/json_2.1.1/<split>/<task-folder>/<trial>/game.tw-pddl

where ``<split>`` is ``train``, ``valid_seen`` or ``valid_unseen`` and the task folder's name
starts with one of the six task types (``pick_two_obj_and_place-Candle-None-Drawer-427``).
Each game file is JSON with ``pddl_domain``, ``grammar``, ``pddl_problem``, ``solvable`` and
``walkthrough`` (the expert's commands). Nothing here imports textworld or alfworld.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

GAME_FILE = "game.tw-pddl"
DATA_VERSION_DIR = "json_2.1.1"

#: The six ALFWorld task types, in ALFWorld's numbering (1-6).
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

#: the splits ALFWorld's data has (``alfworld-download``)
KNOWN_SPLITS = ("train", "valid_seen", "valid_unseen", "valid_train")
#: ALFWorld's own names for its evaluation splits.
SPLIT_ALIASES = {
    "eval_in_distribution": "valid_seen",
    "eval_out_of_distribution": "valid_unseen",
}

#: ALFWorld's games with these words in their path are skipped by ``AlfredTWEnv`` too.
UNSUPPORTED_MARKERS = ("movable", "Sliced")

HOW_TO_GET_DATA = (
    "Get the games with `pip install alfworld && alfworld-download` (they land in "
    "$ALFWORLD_DATA/json_2.1.1/, default ~/.cache/alfworld), or unpack turngym's copy "
    "(`tar -xJf ../shared/data/alfworld/json_2.1.1-train-valid_seen-valid_train.tar.xz -C DIR`) "
    "and pass data_dir=DIR (or set ALFWORLD_DATA=DIR)."
)


class GameFileError(ValueError):
    """A game file that is missing, truncated or not an ALFWorld text game."""


def default_data_root() -> Path:
    """``$ALFWORLD_DATA`` if set, else ALFWorld's default ``~/.cache/alfworld``."""
    return Path(os.environ.get("ALFWORLD_DATA") or "~/.cache/alfworld").expanduser()


def canonical_split(split: str) -> str:
    """Map ALFWorld's ``eval_*`` names to folder names and reject anything path-like."""
    split = SPLIT_ALIASES.get(split, split)
    if not split or "/" in split or "\\" in split or split in (".", ".."):
        raise ValueError(f"split must be a folder name like 'train' or 'valid_seen', got {split!r}")
    return split


def candidate_dirs(data_dir: str | os.PathLike | None, split: str) -> list[Path]:
    """Where the games of ``split`` may be, in the order they are looked for."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_root()
    candidates = [root / DATA_VERSION_DIR / split, root / split]
    if data_dir is not None:
        candidates.append(root)  # a split folder given directly
    return candidates


def find_split_dir(data_dir: str | os.PathLike | None, split: str) -> Path:
    """The folder holding ``split``'s games; a clear ``FileNotFoundError`` if there is none."""
    split = canonical_split(split)
    candidates = candidate_dirs(data_dir, split)
    for candidate in candidates:
        if candidate.is_dir() and (candidate in candidates[:2] or _holds_task_folders(candidate)):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    source = f"data_dir={str(data_dir)!r}" if data_dir is not None else "$ALFWORLD_DATA"
    roots = {d.parent for d in candidates[:2] if d.parent.is_dir()}
    present = sorted(
        {c.name for root in roots for c in root.iterdir() if c.is_dir() and _holds_task_folders(c)}
    )
    if split not in KNOWN_SPLITS:
        raise ValueError(
            f"split={split!r} is not an ALFWorld split; choose one of {list(KNOWN_SPLITS)} "
            f"(or {sorted(SPLIT_ALIASES)}); present under {source}: {present or 'none'}"
        )
    raise FileNotFoundError(
        f"no ALFWorld games for split {split!r} ({source}); looked in: {looked}. {HOW_TO_GET_DATA}"
    )


def _holds_task_folders(folder: Path) -> bool:
    """Whether ``folder`` is itself a split folder (its children are task folders)."""
    return any(
        child.is_dir() and child.name.split("-", 1)[0] in TASK_TYPES for child in folder.iterdir()
    )


def task_type_of(relative_path: str) -> str:
    """The task type of a game: the prefix of its task folder's name (before the first ``-``)."""
    folder = Path(relative_path).parts[0]
    return folder.split("-", 1)[0]


def check_task_types(task_types: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate a task-type filter (names or ALFWorld's numbers 1-6); ``None`` means all six."""
    if task_types is None:
        return TASK_TYPES
    if isinstance(task_types, (str, int)):
        task_types = [task_types]  # type: ignore[list-item]
    chosen = []
    for task_type in task_types:
        if isinstance(task_type, int) and not isinstance(task_type, bool):
            if not 1 <= task_type <= len(TASK_TYPES):
                raise ValueError(f"task type number {task_type} is not in 1-{len(TASK_TYPES)}")
            task_type = TASK_TYPES[task_type - 1]
        if task_type not in TASK_TYPES:
            raise ValueError(f"unknown ALFWorld task type {task_type!r}; choose from {TASK_TYPES}")
        if task_type not in chosen:
            chosen.append(task_type)
    if not chosen:
        raise ValueError(f"task_types is empty; choose at least one of {TASK_TYPES}")
    return tuple(chosen)


def list_games(split_dir: Path, task_types: Iterable[str] | None = None) -> list[str]:
    """Sorted paths (relative to ``split_dir``, ``/``-separated) of the playable games.

    Games whose path holds ``movable`` or ``Sliced`` are left out, as ALFWorld does.
    """
    wanted = set(check_task_types(task_types))
    games = []
    for root, dirs, files in os.walk(split_dir):
        dirs.sort()
        if GAME_FILE not in files:
            continue
        relative = Path(root, GAME_FILE).relative_to(split_dir).as_posix()
        if any(marker in relative for marker in UNSUPPORTED_MARKERS):
            continue
        if task_type_of(relative) in wanted:
            games.append(relative)
    return sorted(games)


def load_game(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check one game file; a ``GameFileError`` naming the file if it is unusable."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as error:
        raise GameFileError(f"ALFWorld game file not found: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GameFileError(
            f"ALFWorld game file {path} is corrupt or truncated ({error}); "
            f"re-download or re-unpack it. {HOW_TO_GET_DATA}"
        ) from error
    missing = [
        key
        for key in ("pddl_domain", "grammar", "pddl_problem")
        if not isinstance(data, dict) or key not in data
    ]
    if missing:
        raise GameFileError(f"ALFWorld game file {path} lacks {missing}: not a game.tw-pddl file")
    return data


def expert_actions(game: str | os.PathLike | Mapping[str, Any]) -> list[str]:
    """The expert walkthrough of a game (a path to ``game.tw-pddl`` or its loaded JSON).

    Playing these commands from the start wins the game. Raises ``GameFileError`` if the game
    has no walkthrough (``ALFWorldEnv.expert_plan`` plans one from any state instead).
    """
    data = game if isinstance(game, Mapping) else load_game(game)
    walkthrough = data.get("walkthrough")
    if not walkthrough:
        where = game if not isinstance(game, Mapping) else "the given game"
        raise GameFileError(f"{where} has no walkthrough")
    return [str(command) for command in walkthrough]
