"""ALFWorld's reference engine: textworld's PDDL environment with ALFWorld's wrappers.

This is what ``alfworld.agents.environment.alfred_tw_env.AlfredTWEnv`` plays::

    textworld.start(game_file, request_infos=...,
                    wrappers=[AlfredDemangler(shuffle=False), AlfredInfos])

Without ``AlfredDemangler`` the names stay raw PDDL ids (``desk_bar__plus_02_dot_32...``) and the
walkthroughs ("go to desk 1") do nothing. textworld and alfworld are imported only when a game is
loaded, so ``import turngym.envs`` works without them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import GameFileError

INSTALL_HINT = "pip install 'turngym[alfworld]'  (or: pip install alfworld)"

#: Predicates that record history (what was looked at, where an object used to be) rather than
#: the state: no action's precondition or goal reads them, so ``state_key`` leaves them out.
HISTORY_PREDICATES = frozenset({"checked", "examined", "wasinreceptacle"})
#: Fast Downward also reports negated atoms (``not_atlocation``) once they have been made true;
#: they depend on the path taken and, under PDDL's closed world, follow from the positive facts.
NEGATED_PREFIX = "not_"


@dataclass(frozen=True)
class EngineState:
    """What the engine says after ``reset`` or one ``step``."""

    observation: str
    reward: float
    done: bool
    won: bool
    admissible_commands: list[str]
    state_key: str


def import_textworld() -> tuple[Any, Any, Any]:
    """``(textworld, AlfredDemangler, AlfredInfos)``, or an ``ImportError`` naming the fix."""
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    except ImportError as error:
        raise ImportError(
            f"turngym/ALFWorld-v0 with engine='textworld' needs the textworld and alfworld "
            f"packages ({error}); install them with: {INSTALL_HINT}"
        ) from error
    return textworld, AlfredDemangler, AlfredInfos


#: ``state_key`` is a multiset hash (Bellare and Micciancio's AdHash): the sum, modulo 2^128,
#: of a 128-bit digest of each serialized fact. It does not depend on the facts' order, so the
#: native engine updates it in O(1) per added or removed fact instead of re-hashing the state.
KEY_MODULUS = 1 << 128


def fact_digest(line: str) -> int:
    """The 128-bit digest of one serialized fact, e.g. ``atlocation(agent1: agent, ...)``."""
    return int.from_bytes(hashlib.blake2b(line.encode("utf-8"), digest_size=16).digest(), "big")


def format_key(total: int) -> str:
    return f"{total % KEY_MODULUS:032x}"


def facts_key(facts: list[Any]) -> str:
    """sum(fact_digest(fact)) mod 2^128 over the positive facts, history predicates left out."""
    return format_key(sum(fact_digest(str(f)) for f in facts if describes_state(f.name.lower())))


def describes_state(predicate: str) -> bool:
    return not predicate.startswith(NEGATED_PREFIX) and predicate not in HISTORY_PREDICATES


class TextWorldEngine:
    """Plays one ALFWorld game at a time through textworld (not picklable once loaded).

    ``load`` starts the engine for a game file (a second ``load`` of the same file keeps it);
    ``reset`` and ``step`` return an ``EngineState``. ``step`` passes the command to the engine
    as given: the engine matches it exactly against its valid commands and answers anything
    else with "Nothing happens.".
    """

    name = "textworld"

    def __init__(self) -> None:
        self._env: Any = None
        self.game_file: Path | None = None

    def load(self, game_file: str | Path) -> None:
        game_file = Path(game_file)
        if self._env is not None and self.game_file == game_file:
            return
        self.close()
        textworld, alfred_demangler, alfred_infos = import_textworld()
        request_infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
        try:
            self._env = textworld.start(
                str(game_file),
                request_infos=request_infos,
                wrappers=[alfred_demangler(shuffle=False), alfred_infos],
            )
        except Exception as error:  # json, PDDL and grammar errors all mean a bad file
            raise GameFileError(
                f"cannot load ALFWorld game {game_file}: {type(error).__name__}: {error}"
            ) from error
        self.game_file = game_file

    def reset(self) -> EngineState:
        state = self._require().reset()
        return self._convert(state, 0.0, False)

    def step(self, command: str) -> EngineState:
        state, reward, done = self._require().step(command)
        return self._convert(state, float(reward), bool(done))

    def plan(self) -> list[str]:
        """Fast Downward's plan (commands) from the current state to the goal."""
        pddl_env = self._require().unwrapped
        return list(pddl_env._pddl_state.replan(pddl_env._entity_infos))

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env = None
        self.game_file = None

    def _require(self) -> Any:
        if self._env is None:
            raise RuntimeError("no ALFWorld game is loaded; call load(game_file) first")
        return self._env

    @staticmethod
    def _convert(state: Any, reward: float, done: bool) -> EngineState:
        return EngineState(
            observation=state["feedback"],
            reward=reward,
            done=done,
            won=bool(state["won"]),
            admissible_commands=list(state["admissible_commands"]),
            state_key=facts_key(state["_facts"]),
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"_env": None, "game_file": None}  # the engine restarts in the new process
