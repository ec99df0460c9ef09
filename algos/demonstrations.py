"""Expert demonstrations: an environment's expert played through an environment pool, each turn
recorded as the agent would have seen and answered it (token in, token out); the data of
behaviour cloning and of expert preference pairs."""

from __future__ import annotations

from typing import Any

from turngym.agents.agent import Agent
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import EpisodeSpec, run_episodes
from turngym.agents.trajectory import Trajectory


def expert_trajectories(agent: Agent, pool: EnvPool, task_ids: list[Any]) -> list[Trajectory]:
    """One episode per task, acted by the environment's expert and encoded for ``agent``
    (:meth:`~turngym.agents.agent.Agent.demonstrate`), through ``pool``, a pool made with
    ``expert=True`` (the expert is asked in the worker that runs the environment)."""
    if not pool.expert:
        raise ValueError("expert_trajectories needs a pool made with expert=True")
    specs = [EpisodeSpec(f"expert-{t}", f"expert-{t}", t, None) for t in task_ids]
    return run_episodes(agent, pool, specs, expert=True)
