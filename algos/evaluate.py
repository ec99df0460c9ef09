"""Evaluate an agent on held-out tasks: success rate, mean return, mean length, and with a
rubric of scorers (``reward.scorers``) each scorer's mean weighted term per episode."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import EpisodeSpec, run_episodes
from turngym.agents.trajectory import Trajectory
from turngym.rewards.scorers import Rubric


@dataclass
class EvalReport:
    """Outcomes of the episodes that ran to their end by the environment's rules; episodes
    lost to an environment error (a crashed or hung worker, an exception in ``step``) are
    counted in ``env_errors`` and left out of every other figure."""

    env_id: str
    episodes: int
    success_rate: float
    mean_return: float
    mean_length: float
    truncated: int
    by_task_type: dict[str, dict[str, float]] = field(default_factory=dict)
    env_errors: int = 0
    #: per scorer of the evaluation's rubric, the mean weighted term per episode
    reward_terms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lost = f", {self.env_errors} lost to environment errors" if self.env_errors else ""
        return (
            f"success {self.success_rate:.1%} over {self.episodes} episodes "
            f"(mean return {self.mean_return:.3f}, mean length {self.mean_length:.1f}{lost})"
        )


def summarize(env_id: str, trajectories: list[Trajectory]) -> EvalReport:
    lost = [t for t in trajectories if t.error is not None]
    trajectories = [t for t in trajectories if t.error is None]
    count = len(trajectories)
    by_type: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        by_type[t.task_type or "all"].append(t)
    return EvalReport(
        env_id=env_id,
        episodes=count,
        success_rate=sum(t.won for t in trajectories) / max(count, 1),
        mean_return=sum(t.return_ for t in trajectories) / max(count, 1),
        mean_length=sum(t.length for t in trajectories) / max(count, 1),
        truncated=sum(t.truncated for t in trajectories),
        by_task_type={
            name: {"episodes": len(ts), "success_rate": sum(t.won for t in ts) / len(ts)}
            for name, ts in sorted(by_type.items())
        },
        env_errors=len(lost),
    )


def evaluate_agent(
    agent: Agent,
    pool: EnvPool,
    task_ids: list[Any],
    seed: int = 0,
    progress: bool = False,
    rubric: Rubric | None = None,
) -> tuple[EvalReport, list[Trajectory]]:
    """One episode per task id (held-out tasks), sampled with the agent's own settings; with a
    ``rubric`` (scorers that need nothing beyond the trajectories), its terms are written into
    the trajectories and their means into ``reward_terms``."""
    specs = [
        EpisodeSpec(episode_id=f"eval-{i}", group_id=f"eval-{i}", task_id=task_id, seed=seed + i)
        for i, task_id in enumerate(task_ids)
    ]
    trajectories = run_episodes(agent, pool, specs, progress=progress)
    report = summarize(pool.env_id, trajectories)
    finished = [t for t in trajectories if t.error is None]
    if rubric is not None and rubric.terms and finished:
        metrics = rubric.apply(finished)
        per_episode = {k: v for k, v in metrics.items() if k.endswith("_per_episode")}
        report.reward_terms = {
            k.removeprefix("reward/").removesuffix("_per_episode"): v
            for k, v in per_episode.items()
        }
    return report, trajectories


def evaluate_policy(
    backend: Any, tokenizer: Any, agent_config: AgentConfig, pool: EnvPool, task_ids: list[Any],
    seed: int = 0, progress: bool = False, rubric: Rubric | None = None,
) -> EvalReport:  # fmt: skip
    """:func:`evaluate_agent` with a fresh agent and fixed random streams, so that every
    evaluation in a run (before, during, after training) draws the same way."""
    torch.manual_seed(seed + 17)
    agent = Agent(backend, tokenizer, agent_config, seed=seed)
    report, _ = evaluate_agent(agent, pool, task_ids, seed=seed, progress=progress, rubric=rubric)
    return report
