"""The text-environment contract every turngym environment follows.

A subclass implements two methods and inherits the rest:

- ``_start(task_id) -> (observation, info)``: build the task ``task_id`` and return its first
  observation.
- ``_act(action) -> (observation, reward, terminated, info)``: apply one *well-formed* string.

The base class draws a task id from ``self.np_random`` when ``options["task_id"]`` is absent,
turns any action that is not a string into the environment's own "Nothing happens." answer,
caps action length, and makes every reset and step ``info`` carry the same standard keys:
``task``, ``task_id``, ``admissible_actions``, ``state_key``, ``won`` and ``invalid_action``
(``False`` after a reset) always; ``task_type`` for environments with task types and ``score``
for those with a native score, on every step once reset has shown them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .spaces import AnyText

NOTHING_HAPPENS = "Nothing happens."
MAX_ACTION_CHARS = 4096

#: ``info`` keys with a fixed meaning across turngym (present when meaningful).
STANDARD_INFO_KEYS = (
    "task",
    "task_id",
    "task_type",
    "admissible_actions",
    "state_key",
    "won",
    "score",
    "invalid_action",
)

#: keys that describe the episode rather than the state: set at reset, repeated on every step
EPISODE_INFO_KEYS = ("task", "task_id", "task_type")


def normalize_command(action: str) -> str:
    """Lower-case, trim and collapse white space: the form environments match commands in."""
    return " ".join(action.strip().lower().split())


def put_alias(command: str) -> str | None:
    """``move X to Y`` for ALFWorld's pre-0.4 ``put X in/on Y`` (``None`` if not of that form).

    >>> put_alias("put mug 1 in/on desk 1")
    'move mug 1 to desk 1'
    """
    if not command.startswith("put "):
        return None
    for preposition in (" in/on ", " in ", " on "):
        obj, found, receptacle = command[len("put ") :].partition(preposition)
        if found and obj and receptacle:
            return f"move {obj} to {receptacle}"
    return None


class TextEnv(gym.Env[str, str]):
    """Base class of turngym's text environments (observations and actions are ``str``).

    Attributes:
        num_tasks: how many distinct task ids ``reset`` draws from (``None``: unbounded ids
            are accepted and ``reset`` draws from ``[0, 2**31)``).
        invalid_action_answer: what an invalid action shows (``None``: the unchanged
            observation).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}
    num_tasks: int | None = None
    #: the observation after an invalid action: ``NOTHING_HAPPENS``, or ``None`` for
    #: environments whose original leaves the screen unchanged (WebShop)
    invalid_action_answer: str | None = NOTHING_HAPPENS

    def __init__(self, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; "
                f"choose one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self.observation_space = AnyText()
        self.action_space = AnyText()
        self._last_observation = ""
        self.task_id: Any = None
        self._episode_info: dict[str, Any] = {}  # reset's task facts, repeated on every step

    # -- to implement -------------------------------------------------------------------------
    def _start(self, task_id: Any) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        raise NotImplementedError

    # -- the Gymnasium API --------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "task_id" in options and options["task_id"] is not None:
            task_id = self.check_task_id(options["task_id"])
        else:
            high = self.num_tasks if self.num_tasks is not None else 2**31
            task_id = int(self.np_random.integers(0, high))
        self.task_id = task_id
        observation, info = self._start(task_id)
        info.setdefault("task_id", task_id)
        info.setdefault("invalid_action", False)
        self._episode_info = {k: info[k] for k in EPISODE_INFO_KEYS if k in info}
        self._last_observation = observation
        self._render_if_human()
        return observation, info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.task_id is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if not isinstance(action, str) or len(action) > MAX_ACTION_CHARS:
            observation, info = self._invalid_answer()
            reward, terminated = 0.0, False
        else:
            observation, reward, terminated, info = self._act(action)
        info.setdefault("invalid_action", False)
        for key, value in self._episode_info.items():
            info.setdefault(key, value)
        self._last_observation = observation
        self._render_if_human()
        return observation, float(reward), bool(terminated), False, info

    def check_task_id(self, task_id: Any) -> Any:
        """Validate ``options["task_id"]``; subclasses with non-integer ids override this."""
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise ValueError(f"task_id must be an int, got {task_id!r}")
        if task_id < 0 or (self.num_tasks is not None and task_id >= self.num_tasks):
            allowed = f"[0, {self.num_tasks})" if self.num_tasks is not None else ">= 0"
            raise ValueError(f"task_id={task_id} is out of range; allowed: {allowed}")
        return task_id

    def _invalid_answer(self) -> tuple[str, dict[str, Any]]:
        """What the environment says to an action it cannot parse; subclasses add state info."""
        return NOTHING_HAPPENS, {"invalid_action": True, **self.state_info()}

    def state_info(self) -> dict[str, Any]:
        """Standard info keys describing the current state (override in subclasses)."""
        return {}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        return None

    def _render_if_human(self) -> None:
        if self.render_mode == "human":
            print(self._last_observation)
