"""``turngym/TextWorld-v0``: games made offline by TextWorld's own generator, played on its engine.

Three of TextWorld's challenges, each game generated on demand from ``task_id`` (the generator's
seed) into a cache folder and reused afterwards::

    env = gymnasium.make("turngym/TextWorld-v0", challenge="cooking",
                         settings={"recipe": 2, "go": 6, "open": True, "cut": True})
    observation, info = env.reset(options={"task_id": 7})

- ``cooking``: the First TextWorld Problems cooking challenge (settings ``recipe``, ``take``,
  ``go``, ``open``, ``cook``, ``cut``, ``drop``, ``recipe_seed``, ``split``).
- ``treasure_hunter`` and ``coin_collector``: setting ``level``.

TextWorld reports the cumulative score; turngym's reward is its per-step change, or with
``dense_reward=True`` the engine's intermediate reward (+1 progress, 0, -1 setback).
Observations, feedback and admissible commands are the engine's. A command that is not
admissible is not sent to the interpreter (which cannot take arbitrary unicode, and exits on
some): the answer is "Nothing happens." with ``info["invalid_action"]``, as in ALFWorld-v0.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .core import NOTHING_HAPPENS, TextEnv, normalize_command

DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "cooking": {"recipe": 1, "take": 1, "go": 1, "open": True, "cook": False, "cut": False,
                "drop": False, "recipe_seed": 0, "split": "train"},
    "treasure_hunter": {"level": 1},
    "coin_collector": {"level": 1},
}  # fmt: skip


def cache_root() -> Path:
    return Path(os.environ.get("TURNGYM_CACHE", Path.home() / ".cache" / "turngym")) / "textworld"


@contextmanager
def quiet_jericho() -> Iterator[None]:
    """Silence jericho's notice that a TextWorld game is "not fully supported".

    It comes whenever jericho loads a game it does not know: when the generator compiles a game
    to check its walkthrough and when the engine starts one. Scores come from TextWorld's own
    state tracking, which this environment uses. textworld hides the notice with a global filter
    when it is first imported, which a caller's ``warnings.simplefilter("always")`` overrides,
    so the filter is set here around each use, not relied on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not fully supported")
        yield


def generate_game(challenge: str, settings: dict[str, Any], seed: int, folder: Path) -> Path:
    """Make and compile one game with TextWorld's generator (once; later calls reuse it)."""
    path = folder / f"game_{seed}.z8"
    if path.exists():
        return path
    import textworld
    from textworld.challenges import coin_collector, cooking, treasure_hunter

    makers = {"cooking": cooking, "treasure_hunter": treasure_hunter,
              "coin_collector": coin_collector}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch, quiet_jericho():
        options = textworld.GameOptions()
        options.seeds = seed
        options.path = str(Path(scratch) / path.name)
        options.file_ext = ".z8"
        game = makers[challenge].make(dict(settings), options)
        compiled = Path(textworld.generator.compile_game(game, options))
        os.replace(compiled.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(compiled, path)  # last: its presence means the game is complete
    return path


class TextWorldEnv(TextEnv):
    """TextWorld challenge games (see the module docstring).

    Args:
        challenge: ``cooking``, ``treasure_hunter`` or ``coin_collector``.
        settings: the challenge's settings, merged over :data:`DEFAULT_SETTINGS`.
        dense_reward: reward with the engine's intermediate reward instead of the score change.
        cache_dir: where generated games are kept (default ``$TURNGYM_CACHE/textworld``).
        num_tasks: draw ``reset``'s task ids from ``[0, num_tasks)`` (default: any seed).
    """

    def __init__(
        self,
        challenge: str = "cooking",
        settings: dict[str, Any] | None = None,
        dense_reward: bool = False,
        cache_dir: str | None = None,
        num_tasks: int | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        self.num_tasks = num_tasks
        if challenge not in DEFAULT_SETTINGS:
            raise ValueError(f"challenge={challenge!r}; choose one of {sorted(DEFAULT_SETTINGS)}")
        unknown = set(settings or {}) - set(DEFAULT_SETTINGS[challenge])
        if unknown:
            raise ValueError(
                f"settings {sorted(unknown)} are not {challenge} settings; "
                f"allowed: {sorted(DEFAULT_SETTINGS[challenge])}"
            )
        self.challenge = challenge
        self.settings = {**DEFAULT_SETTINGS[challenge], **(settings or {})}
        self.dense_reward = dense_reward
        digest = hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:10]
        self.folder = Path(cache_dir) if cache_dir else cache_root() / f"{challenge}-{digest}"
        self._engine = None
        self._state = None

    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        import textworld

        path = generate_game(self.challenge, self.settings, task_id, self.folder)
        if self._engine is not None:
            self._engine.close()
        infos = textworld.EnvInfos(admissible_commands=True, won=True, lost=True, score=True,
                                   max_score=True, intermediate_reward=True, objective=True,
                                   facts=True, policy_commands=True)  # fmt: skip
        with quiet_jericho():
            self._engine = textworld.start(str(path), request_infos=infos)
            self._state = self._engine.reset()
        return self._state.feedback, {"task_type": self.challenge, **self.state_info()}

    def expert_plan(self) -> list[str]:
        """The engine's winning command sequence from the current state."""
        return list(self._state.policy_commands or [])

    def state_info(self) -> dict[str, Any]:
        state = self._state
        if state is None:
            return {}
        facts = "\n".join(sorted(str(fact) for fact in state.facts))
        return {
            "task": state.objective,
            "admissible_actions": list(state.admissible_commands),
            "state_key": hashlib.sha1(facts.encode()).hexdigest(),
            "won": bool(state.won),
            "lost": bool(state.lost),
            "score": state.score,
            "max_score": state.max_score,
        }

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        command = normalize_command(action)
        if command not in self._state.admissible_commands:
            return NOTHING_HAPPENS, 0.0, False, {"invalid_action": True, **self.state_info()}
        previous_score = self._state.score
        self._state, _, done = self._engine.step(command)
        state = self._state
        reward = state.intermediate_reward if self.dense_reward else state.score - previous_score
        return (
            state.feedback,
            float(reward),
            bool(done),
            {"invalid_action": False, **self.state_info()},
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_engine"] = state["_state"] = None  # restarted by reset() in the new process
        return state
