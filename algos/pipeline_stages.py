"""The built-in pipeline stages (:mod:`turngym.algos.pipeline`): ``sft``, ``rl``, ``preference``
and ``rejection_sampling``. Each loads the checkpoint it starts from, runs one of the existing
loops and writes a checkpoint (a ``save_pretrained`` folder that ``turngym eval`` loads)."""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import load_pretrained, policy_backend
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.trajectory import Trajectory, save_trajectories
from turngym.common.run_folder import latest_checkpoint
from turngym.config.pipeline import (
    BehaviourCloning,
    KeepFilter,
    PreferenceStage,
    RejectionSamplingStage,
    RLStage,
    SFTStage,
)
from turngym.rewards.rules import outcome_key
from turngym.rewards.scorers import Rubric, ScoringContext

from .behaviour_cloning import sft
from .demonstrations import expert_trajectories
from .engine import TorchEngine, save_checkpoint
from .pipeline import StageContext, StageOutcome, register_stage
from .preference_run import run_preference
from .trainer import Trainer


def draw_train_tasks(context: StageContext, count: int) -> list[int]:
    """``count`` distinct train task ids, drawn with the stage's seed."""
    tasks = context.pipeline.env.train_tasks
    available = tasks.stop - tasks.start
    if count > available:
        raise ValueError(f"the stage asks for {count} distinct train tasks; env.train_tasks "
                         f"holds {available}")  # fmt: skip
    rng = np.random.default_rng([context.seed, 7])
    return (rng.choice(available, count, replace=False) + tasks.start).tolist()


def fresh_folder(context: StageContext) -> None:
    """Clear what an interrupted run of this stage left (its outcome is written anew)."""
    for entry in context.folder.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def clone_and_save(
    context: StageContext, data: list[Trajectory], training: BehaviourCloning, metrics: dict
) -> StageOutcome:
    """Behaviour cloning of the stage's starting policy on ``data``, saved in the stage folder."""
    torch.manual_seed(context.seed)
    model, tokenizer = load_pretrained(context.policy, context.pipeline.model.dtype)
    engine = TorchEngine(model, training.learning_rate)
    metrics.update(sft(engine, tokenizer, data, context.agent_config, epochs=training.epochs,
                       batch_size=training.batch_size, seed=context.seed))  # fmt: skip
    save_checkpoint(context.folder, engine, tokenizer, context.agent_config,
                    run_config=context.pipeline.model_dump(), metrics=metrics)  # fmt: skip
    return StageOutcome(policy=str(context.folder), metrics=metrics)


@register_stage("sft")
def run_sft(stage: SFTStage, context: StageContext) -> StageOutcome:
    """Behaviour cloning on ``expert_tasks`` expert episodes of train tasks."""
    fresh_folder(context)
    pipeline = context.pipeline
    _, tokenizer = load_pretrained(context.policy, pipeline.model.dtype)
    agent = Agent(None, tokenizer, context.agent_config)
    with pipeline.env.make_pool(pipeline.rollout, expert=True) as experts:
        demonstrations = expert_trajectories(
            agent, experts, draw_train_tasks(context, stage.expert_tasks)
        )
    metrics = {"sft/expert_success_rate": float(np.mean([d.won for d in demonstrations]))}
    return clone_and_save(context, demonstrations, stage.training, metrics)


@register_stage("rl")
def run_rl(stage: RLStage, context: StageContext) -> StageOutcome:
    """The on-policy trainer from the stage's config; a stage that was running resumes from
    its latest checkpoint."""
    config = stage.run_config(context.pipeline, context.policy, str(context.folder), context.seed,
                              context.artifacts)  # fmt: skip
    if context.resuming and latest_checkpoint(context.folder) is not None:
        config.train.resume, config.train.overwrite = True, False
    result = Trainer(config).train()
    before, after = result["before"], result["after"]
    metrics = {"rl/success_before": before["success_rate"], "rl/success_after":
               after["success_rate"], "rl/iterations": float(after["iteration"])}  # fmt: skip
    return StageOutcome(policy=result["checkpoint"], metrics=metrics)


@register_stage("preference")
def run_preference_stage(stage: PreferenceStage, context: StageContext) -> StageOutcome:
    """``turngym preference`` from the stage's config (offline, online or SPPO)."""
    config = stage.run_config(context.pipeline, context.policy, str(context.folder), context.seed,
                              context.artifacts)  # fmt: skip
    result = run_preference(config)
    metrics = {"preference/success_before": result["before"]["success_rate"],
               "preference/success_after": result["after"]["success_rate"]}  # fmt: skip
    return StageOutcome(policy=result["checkpoint"], metrics=metrics)


def kept_episodes(
    trajectories: list[Trajectory], keep: KeepFilter, max_new_tokens: int | None = None
) -> tuple[list[Trajectory], list[float]]:
    """The episodes that pass ``keep``, at most ``max_per_task`` per task, best first (by the
    scorer's total, then won, return and length); also every episode's score."""
    scores = [float(t.won) for t in trajectories]
    if keep.scorer is not None:
        Rubric.from_specs([keep.scorer]).apply(trajectories, ScoringContext(max_new_tokens))
        name = keep.scorer.name
        scores = [sum(turn.reward_terms[name] for turn in t.turns) for t in trajectories]
    passing: dict[Any, list[tuple[float, Trajectory]]] = {}
    for trajectory, score in zip(trajectories, scores, strict=True):
        if (keep.won and not trajectory.won) or (
            keep.min_score is not None and score < keep.min_score
        ):
            continue
        passing.setdefault(trajectory.group_id, []).append((score, trajectory))
    kept = []
    for candidates in passing.values():
        candidates.sort(key=lambda pair: (pair[0], outcome_key(pair[1])), reverse=True)
        kept += [trajectory for _, trajectory in candidates[: keep.max_per_task]]
    return kept, scores


@register_stage("rejection_sampling")
def run_rejection_sampling(stage: RejectionSamplingStage, context: StageContext) -> StageOutcome:
    """Sample from the current policy, keep what passes the filter (saved as ``kept.parquet``),
    behaviour-clone on it."""
    fresh_folder(context)
    pipeline = context.pipeline
    torch.manual_seed(context.seed)
    model, tokenizer = load_pretrained(context.policy, pipeline.model.dtype)
    model.eval()
    agent_config: AgentConfig = context.agent_config
    if stage.temperature is not None:
        agent_config = dataclasses.replace(agent_config, temperature=stage.temperature)
    backend = policy_backend(pipeline.model, model, tokenizer, seed=context.seed)
    agent = Agent(backend, tokenizer, agent_config, seed=context.seed)
    task_ids = draw_train_tasks(context, stage.tasks)
    with pipeline.env.make_pool(pipeline.rollout) as pool, torch.no_grad():
        sampled = run_episodes(agent, pool, group_episodes(task_ids, stage.samples_per_task,
                                                           seed=context.seed))  # fmt: skip
    sampled = [t for t in sampled if t.error is None]
    kept, scores = kept_episodes(sampled, stage.keep, agent_config.max_new_tokens)
    metrics = {
        "rejection/sampled": float(len(sampled)),
        "rejection/sampled_success_rate": float(np.mean([t.won for t in sampled])),
        "rejection/mean_score": float(np.mean(scores)),
        "rejection/kept": float(len(kept)),
        "rejection/tasks_kept": float(len({t.group_id for t in kept})),
    }
    tqdm.write(f"rejection sampling: kept {len(kept)} of {len(sampled)} episodes")
    if not kept:
        raise RuntimeError(f"rejection sampling kept no episode of {len(sampled)} (filter "
                           f"{stage.keep.model_dump()}); loosen keep or sample more")  # fmt: skip
    save_trajectories(kept, context.folder / "kept.parquet")
    del model, backend  # the clone loads its own copy of the starting policy
    return clone_and_save(context, kept, stage.training, metrics)
