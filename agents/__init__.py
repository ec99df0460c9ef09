"""LLM agents: inference backends, prompts, action parsing, the rollout loop, trajectories."""

import turngym.envs  # noqa: F401  (agents act in registered environments)

from .agent import Agent, AgentConfig, AgentInput, Decision
from .backends import Generation, InferenceBackend, make_backend
from .env_pool import EnvPool
from .rollout import EnvStartError, EpisodeSpec, group_episodes, lost_episodes, run_episodes
from .trajectory import Trajectory, Turn, load_trajectories, save_trajectories

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentInput",
    "Decision",
    "EnvPool",
    "EnvStartError",
    "EpisodeSpec",
    "Generation",
    "InferenceBackend",
    "Trajectory",
    "Turn",
    "group_episodes",
    "load_trajectories",
    "lost_episodes",
    "make_backend",
    "run_episodes",
    "save_trajectories",
]
