"""Offline preference training from a :class:`~turngym.algos.config.PreferenceRunConfig`.

1. Load the policy (the tiny offline model or a Hugging Face name or path) and evaluate it on
   held-out tasks.
2. Optionally warm-start it with behaviour cloning on expert episodes (``warm_start``), and
   evaluate again.
3. Sample ``pairs.samples_per_task`` episodes on each of ``pairs.tasks`` train tasks (disjoint
   from the warm-start tasks) and build pairs from ``pairs.sources``.
4. Train the policy on them with ``algo.loss`` against the policy of step 3 as the reference
   (TR-DPO updates with ``algo.reference_update.tau``), and evaluate once more.

``train.output_dir`` ends as a checkpoint that ``turngym eval --checkpoint DIR`` loads (model,
tokenizer, ``turngym_agent.json``, ``run_config.yaml``), with ``result.json``::

    turngym preference configs/dmpo.yaml algo.loss=dpo train.output_dir=runs/dpo
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import TransformersBackend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes

from .config import PreferenceRunConfig
from .evaluate import evaluate_policy
from .offline import expert_trajectories, save_policy, sft, train_preference
from .pairs import PreferencePair, expert_pairs, group_pairs, step_pairs
from .trainer import load_policy


def collect_pairs(
    agent: Agent, pool: EnvPool, config: PreferenceRunConfig, task_ids: list[int]
) -> tuple[list[PreferencePair], dict[str, float]]:
    """``pairs.samples_per_task`` sampled episodes per task, turned into the configured pairs."""
    env, settings = config.env, config.pairs
    sampled = run_episodes(
        agent, pool, group_episodes(task_ids, settings.samples_per_task, config.train.seed)
    )
    pairs: list[PreferencePair] = []
    if "expert_vs_sampled" in settings.sources:
        experts = expert_trajectories(agent, env.id, task_ids, env.make_kwargs())
        pairs += expert_pairs(experts, sampled)
    if "best_vs_worst" in settings.sources:
        pairs += group_pairs(sampled)
    if "step" in settings.sources:
        pairs += step_pairs(sampled)
    stats = {
        "pairs/sampled_episodes": float(len(sampled)),
        "pairs/sampled_success_rate": float(np.mean([t.won for t in sampled])),
        "pairs/count": float(len(pairs)),
    }
    return pairs, stats


def run_preference(config: PreferenceRunConfig) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; returns the evaluations, metrics and checkpoint."""
    run, warm = config.train, config.warm_start
    output = Path(run.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if run.torch_threads:
        torch.set_num_threads(run.torch_threads)
    torch.manual_seed(run.seed)
    model, tokenizer = load_policy(config)
    model.eval()
    agent_config = AgentConfig(**config.agent.model_dump())
    backend = TransformersBackend(model, tokenizer)
    agent = Agent(backend, tokenizer, agent_config, seed=run.seed)
    (output / "run_config.yaml").write_text(yaml.safe_dump(config.model_dump()))
    # warm-start and pair tasks: disjoint draws from the train range
    tasks, needed = config.env.train_tasks, warm.expert_tasks + config.pairs.tasks
    rng = np.random.default_rng(run.seed)
    task_ids = (rng.choice(tasks.stop - tasks.start, needed, replace=False) + tasks.start).tolist()
    eval_ids = config.env.eval_task_ids(run.eval_episodes)
    evaluations: dict[str, dict[str, Any]] = {}
    metrics: dict[str, float] = {}

    def evaluate(stage: str) -> None:
        model.eval()
        report = evaluate_policy(backend, tokenizer, agent_config, pool, eval_ids, run.seed,
                                 run.progress)  # fmt: skip
        evaluations[stage] = report.to_dict()
        tqdm.write(f"[{stage}] eval: {report.summary()}")

    with EnvPool(config.env.id, config.env.make_kwargs(), num_slots=64) as pool:
        evaluate("before")
        if warm.expert_tasks:
            demonstrations = expert_trajectories(
                agent, config.env.id, task_ids[: warm.expert_tasks], config.env.make_kwargs()
            )
            metrics.update(sft(model, tokenizer, demonstrations, agent_config, epochs=warm.epochs,
                               batch_size=warm.batch_size, learning_rate=warm.learning_rate,
                               seed=run.seed))  # fmt: skip
            evaluate("warm_start")
        pairs, stats = collect_pairs(agent, pool, config, task_ids[warm.expert_tasks :])
        metrics.update(stats)
        tqdm.write(f"{len(pairs)} pairs from {stats['pairs/sampled_episodes']:.0f} episodes "
                   f"({stats['pairs/sampled_success_rate']:.1%} won)")  # fmt: skip
        if not pairs:
            raise RuntimeError(
                f"no preference pairs from {config.pairs.sources}: every sampled episode tied "
                "with its comparison; raise pairs.tasks or pairs.samples_per_task"
            )
        algo = config.algo
        trained = train_preference(
            model, tokenizer, pairs, agent_config, loss=algo.loss,
            loss_config=algo.settings_of(algo.loss), shape=config.pairs.shape, epochs=algo.epochs,
            batch_size=algo.batch_size, learning_rate=algo.learning_rate,
            max_grad_norm=algo.max_grad_norm, seed=run.seed,
            reference_sync_steps=algo.reference_update.tau or None,
            reference_alpha=algo.reference_update.alpha,
        )  # fmt: skip
        metrics.update(trained)
        evaluate("after")
    save_policy(output, model, tokenizer, agent_config, metrics)
    result = {**evaluations, "metrics": metrics, "checkpoint": str(output)}
    (output / "result.json").write_text(json.dumps(result, indent=2))
    return result
