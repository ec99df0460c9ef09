"""Test-only environments for the EnvPool tests (importable in spawned workers).

``turngym_test/Flaky-v0`` is ``turngym/Household-v0`` with hooks on special actions:

- ``"crash"``: the process exits at once (``os._exit(1)``), as a segfaulting engine would;
- ``"sleep N"``: sleeps N seconds, then answers "Nothing happens.";
- ``"raise"``: raises ``RuntimeError`` inside ``step``;
- ``"pid"``: answers ``"pid <process id>"`` (tells whether a worker was restarted).

With ``crash_task_id`` set, the episode of that task id crashes its process on step
``crash_at_step`` whatever the action (for the rollout loop, whose agent only plays admissible
actions). Workers reach it through Gymnasium's ``"module:env_id"`` form,
``"slow_envs:turngym_test/Flaky-v0"``, which imports this module first.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gymnasium as gym

from turngym.envs import NOTHING_HAPPENS
from turngym.envs.household import HouseholdEnv

FLAKY_ID = "turngym_test/Flaky-v0"
POOL_ID = f"slow_envs:{FLAKY_ID}"


class FlakyHouseholdEnv(HouseholdEnv):
    def __init__(self, crash_task_id: int | None = None, crash_at_step: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self.crash_task_id = crash_task_id
        self.crash_at_step = crash_at_step
        self.steps = 0

    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.steps = 0
        return super()._start(task_id)

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        self.steps += 1
        if action == "crash" or (
            self.task_id == self.crash_task_id and self.steps >= self.crash_at_step
        ):
            os._exit(1)
        if action.startswith("sleep "):
            time.sleep(float(action.split()[1]))
            return NOTHING_HAPPENS, 0.0, False, {"invalid_action": True, **self.state_info()}
        if action == "raise":
            raise RuntimeError("boom from FlakyHouseholdEnv._act")
        if action == "pid":
            return f"pid {os.getpid()}", 0.0, False, {"invalid_action": True, **self.state_info()}
        return super()._act(action)


if FLAKY_ID not in gym.registry:
    gym.register(
        id=FLAKY_ID,
        entry_point=FlakyHouseholdEnv,
        max_episode_steps=15,
        disable_env_checker=True,
    )
