"""Evaluate an agent on held-out tasks: success rate with its 95% Wilson interval, mean return,
mean length, invalid-action rate, the environment's native score, per task type, and with a
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

from .eval_stats import wilson_interval


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
    by_task_type: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_errors: int = 0
    #: per scorer of the evaluation's rubric, the mean weighted term per episode
    reward_terms: dict[str, float] = field(default_factory=dict)
    successes: int = 0
    success_ci95: tuple[float, float] = (0.0, 1.0)  # Wilson's 95% interval of success_rate
    invalid_action_rate: float = 0.0  # over all turns
    mean_score: float | None = None  # the environment's native score (WebShop), when it has one

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["success_ci95"] = list(self.success_ci95)
        if self.mean_score is None:
            del row["mean_score"]
        return row

    def summary(self) -> str:
        lost = f", {self.env_errors} lost to environment errors" if self.env_errors else ""
        score = "" if self.mean_score is None else f", mean score {self.mean_score:.3f}"
        return (
            f"success {format_rate(self.success_rate, self.success_ci95)} over "
            f"{self.episodes} episodes (mean return {self.mean_return:.3f}, mean length "
            f"{self.mean_length:.1f}{score}{lost})"
        )


def format_rate(rate: float, interval: tuple[float, float] | list[float]) -> str:
    """``27.3% [22.6%, 32.6%]``: a success rate and its 95% interval."""
    return f"{rate:.1%} [{interval[0]:.1%}, {interval[1]:.1%}]"


def summarize(env_id: str, trajectories: list[Trajectory]) -> EvalReport:
    lost = [t for t in trajectories if t.error is not None]
    trajectories = [t for t in trajectories if t.error is None]
    count = len(trajectories)
    by_type: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        by_type[t.task_type or "all"].append(t)
    turns = [turn for t in trajectories for turn in t.turns]
    successes = sum(t.won for t in trajectories)
    scored = any(t.score is not None for t in trajectories)  # the environment has a score
    return EvalReport(
        env_id=env_id,
        episodes=count,
        success_rate=successes / max(count, 1),
        mean_return=sum(t.return_ for t in trajectories) / max(count, 1),
        mean_length=sum(t.length for t in trajectories) / max(count, 1),
        truncated=sum(t.truncated for t in trajectories),
        by_task_type={name: _outcomes(ts, scored) for name, ts in sorted(by_type.items())},
        env_errors=len(lost),
        successes=successes,
        success_ci95=wilson_interval(successes, count),
        invalid_action_rate=sum(not turn.valid for turn in turns) / max(len(turns), 1),
        mean_score=_mean_score(trajectories) if scored else None,
    )


def _outcomes(trajectories: list[Trajectory], scored: bool) -> dict[str, Any]:
    successes = sum(t.won for t in trajectories)
    row = {
        "episodes": len(trajectories),
        "successes": successes,
        "success_rate": successes / len(trajectories),
        "success_ci95": list(wilson_interval(successes, len(trajectories))),
    }
    if scored:
        row["mean_score"] = _mean_score(trajectories)
    return row


def _mean_score(trajectories: list[Trajectory]) -> float:
    """Mean native score; an episode that never reached a scored end (WebShop without Buy
    Now) scores 0."""
    return sum(t.score or 0.0 for t in trajectories) / max(len(trajectories), 1)


def evaluate_agent(
    agent: Agent,
    pool: EnvPool,
    task_ids: list[Any],
    seed: int = 0,
    progress: bool = False,
    rubric: Rubric | None = None,
    ranks: tuple[int, int] = (0, 1),
) -> tuple[EvalReport, list[Trajectory]]:
    """One episode per task id (held-out tasks), sampled with the agent's own settings; with a
    ``rubric`` (scorers that need nothing beyond the trajectories), its terms are written into
    the trajectories and their means into ``reward_terms``.

    ``ranks`` = (r, k) with k > 1: all k ranks of the process group call this with the same
    ``task_ids``; rank r plays episodes r, r + k, r + 2k, ... (each with the environment seed
    it has on one rank; the policy's own draws come from each rank's agent), and every rank gets
    the same report, over all of them. The trajectories returned are the ones this rank
    played."""
    specs = [
        EpisodeSpec(episode_id=f"eval-{i}", group_id=f"eval-{i}", task_id=task_id, seed=seed + i)
        for i, task_id in enumerate(task_ids)
    ]
    rank, world = ranks
    played = run_episodes(agent, pool, specs[rank::world], progress=progress)
    trajectories = played if world == 1 else _gathered(played, [s.episode_id for s in specs])
    report = summarize(pool.env_id, trajectories)
    finished = [t for t in trajectories if t.error is None]
    if rubric is not None and rubric.terms and finished:
        metrics = rubric.apply(finished)
        per_episode = {k: v for k, v in metrics.items() if k.endswith("_per_episode")}
        report.reward_terms = {
            k.removeprefix("reward/").removesuffix("_per_episode"): v
            for k, v in per_episode.items()
        }
    return report, played


def _gathered(played: list[Trajectory], episode_ids: list[str]) -> list[Trajectory]:
    """Every rank's trajectories, on every rank, in ``episode_ids`` order."""
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, played)
    by_id = {t.episode_id: t for part in parts for t in part}
    return [by_id[i] for i in episode_ids if i in by_id]


def evaluate_policy(
    backend: Any, tokenizer: Any, agent_config: AgentConfig, pool: EnvPool, task_ids: list[Any],
    seed: int = 0, progress: bool = False, rubric: Rubric | None = None,
    ranks: tuple[int, int] = (0, 1),
) -> EvalReport:  # fmt: skip
    """:func:`evaluate_agent` with a fresh agent and fixed random streams, so that every
    evaluation in a run (before, during, after training) draws the same way."""
    torch.manual_seed(seed + 17)
    agent = Agent(backend, tokenizer, agent_config, seed=seed)
    report, _ = evaluate_agent(agent, pool, task_ids, seed=seed, progress=progress, rubric=rubric,
                               ranks=ranks)  # fmt: skip
    return report
