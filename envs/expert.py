"""Environments' experts, asked for their next move inside the worker that runs them."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

#: the ``info`` key an expert pool (``EnvPool(..., expert=True)``) fills after reset and step
EXPERT_ACTION_KEY = "expert_action"


def next_expert_action(env: gym.Env) -> str:
    """The environment's expert move: ``expert_action()``, else the head of ``expert_plan()``."""
    if hasattr(env, "expert_action"):
        return env.expert_action()
    if hasattr(env, "expert_plan"):
        plan = env.expert_plan()
        if plan:
            return plan[0]
        raise RuntimeError(f"{type(env).__name__}.expert_plan() is empty: nothing left to do")
    raise TypeError(f"{type(env).__name__} has no expert: give it expert_action() or expert_plan()")


def with_expert_action(env: gym.Env, result: Any, command: str) -> Any:
    """``result`` of a reset or step with ``info["expert_action"]`` added while the episode
    goes on."""
    if command == "reset":
        observation, info = result
        return observation, {**info, EXPERT_ACTION_KEY: next_expert_action(env.unwrapped)}
    observation, reward, terminated, truncated, info = result
    if not (terminated or truncated):
        info = {**info, EXPERT_ACTION_KEY: next_expert_action(env.unwrapped)}
    return observation, reward, terminated, truncated, info
