"""Preference training from a :class:`~turngym.config.PreferenceRunConfig`: offline, online
or SPPO (``mode``).

1. Load the policy (the tiny offline model or a Hugging Face name or path) and evaluate it on
   held-out tasks.
2. Optionally warm-start it with behaviour cloning on expert episodes (``warm_start``), and
   evaluate again.
3. Train it against the policy of this step as the reference, on train tasks disjoint from the
   warm-start tasks:

   - ``mode: offline``: sample ``pairs.samples_per_task`` episodes on each of ``pairs.tasks``
     tasks, build pairs from ``pairs.sources``, and train on them with ``algo.loss`` (TR-DPO
     updates the reference with ``algo.reference_update.tau``);
   - ``mode: online``: ``online.iterations`` of online DPO from AI feedback
     (:mod:`turngym.algos.online_dpo`): two rollouts on each of ``online.tasks_per_iteration``
     fresh tasks, the ``online.judge`` picks each pair's winner, ``algo.loss`` steps on the
     pairs; one row of metrics per iteration in ``metrics.jsonl``, with an evaluation every
     ``online.eval_every`` iterations;
   - ``mode: sppo``: ``sppo.iterations`` of self-play preference optimization
     (:mod:`turngym.algos.sppo`): K rollouts on each of ``sppo.tasks_per_iteration`` fresh
     tasks, each one's win rate in its group under ``sppo.judge``, and SPPO's squared loss
     against the policy of that iteration; one row of metrics per iteration.

4. Evaluate once more.

``train.output_dir`` ends as a checkpoint that ``turngym eval --checkpoint DIR`` loads (model,
tokenizer, ``turngym_agent.json``, ``run_config.yaml``), with ``result.json``::

    turngym preference configs/dmpo.yaml algo.loss=dpo train.output_dir=runs/dpo
    turngym preference configs/online_dpo.yaml online.judge.kind=llm online.judge.model=policy
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import policy_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.common.run_folder import prepare_run_folder
from turngym.config.run import JudgeConfig, PreferenceRunConfig
from turngym.rewards import ChatCompletionsJudge, LLMJudge, PairwiseJudge, RuleJudge
from turngym.rewards.rules import ScorersJudge
from turngym.rewards.scorers import Rubric

from .behaviour_cloning import sft
from .demonstrations import expert_trajectories
from .engine import TorchEngine, TrainEngine, save_checkpoint
from .evaluate import EvalReport, evaluate_policy
from .metrics import MetricsLogger, log_evaluation, write_json
from .online_dpo import OnlineDPO, OnlineDPOConfig
from .pairs import PreferencePair, expert_pairs, group_pairs, step_pairs
from .preference_training import train_preference
from .sppo import SPPO, SPPOConfig
from .trainer import run_policy


def collect_pairs(
    agent: Agent,
    pool: EnvPool,
    config: PreferenceRunConfig,
    task_ids: list[int],
    experts: EnvPool | None = None,
) -> tuple[list[PreferencePair], dict[str, float]]:
    """``pairs.samples_per_task`` sampled episodes per task, turned into the configured pairs
    (``experts``: an expert pool, for ``expert_vs_sampled``)."""
    settings = config.pairs
    sampled = run_episodes(
        agent, pool, group_episodes(task_ids, settings.samples_per_task, config.train.seed)
    )
    pairs: list[PreferencePair] = []
    if "expert_vs_sampled" in settings.sources:
        pairs += expert_pairs(expert_trajectories(agent, experts, task_ids), sampled)
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


def train_offline(
    engine: TrainEngine,
    tokenizer: Any,
    agent: Agent,
    pool: EnvPool,
    config: PreferenceRunConfig,
    task_ids: list[int],
    experts: EnvPool | None = None,
) -> dict[str, float]:
    """Step 3, offline: pairs from one sample of episodes on ``task_ids``, then ``algo.loss``."""
    pairs, metrics = collect_pairs(agent, pool, config, task_ids, experts)
    tqdm.write(
        f"{len(pairs)} pairs from {metrics['pairs/sampled_episodes']:.0f} episodes "
        f"({metrics['pairs/sampled_success_rate']:.1%} won)"
    )
    if not pairs:
        raise RuntimeError(
            f"no preference pairs from {config.pairs.sources}: every sampled episode tied "
            "with its comparison; raise pairs.tasks or pairs.samples_per_task"
        )
    algo = config.algo
    metrics.update(
        train_preference(
            engine,
            tokenizer,
            pairs,
            agent.config,
            loss=algo.loss,
            loss_config=algo.settings_of(algo.loss),
            shape=config.pairs.shape,
            epochs=algo.epochs,
            batch_size=algo.batch_size,
            seed=config.train.seed,
            reference_sync_steps=algo.reference_update.tau or None,
            reference_alpha=algo.reference_update.alpha,
            wpo_alignment=algo.wpo_alignment,
        )
    )
    agent.backend.load_weights(engine.state_dict_for_inference())
    return metrics


def make_judge(settings: JudgeConfig, policy: torch.nn.Module, tokenizer: Any) -> PairwiseJudge:
    """The judge ``online.judge`` describes; ``policy`` (with ``tokenizer``) is the frozen model
    that ``kind: llm, model: policy`` judges with."""
    if settings.kind == "rule":
        return RuleJudge()
    if settings.kind == "scorers":
        return ScorersJudge(Rubric.from_specs(settings.scorers))
    threshold = settings.tie_threshold
    if settings.kind == "llm" and settings.model == "policy":
        return LLMJudge.from_model(policy, tokenizer, tie_threshold=threshold)
    if settings.kind == "llm":
        return LLMJudge.from_pretrained(settings.model, tie_threshold=threshold)
    api_key = os.environ[settings.api_key_env] if settings.api_key_env else None
    return ChatCompletionsJudge(
        settings.base_url, settings.model, api_key=api_key, tie_threshold=threshold
    )


def train_online(
    engine: TrainEngine,
    tokenizer: Any,
    agent: Agent,
    pool: EnvPool,
    config: PreferenceRunConfig,
    task_ids: list[int],
    evaluate: Callable[[str, int], EvalReport],
    logger: MetricsLogger,
) -> dict[str, float]:
    """Step 3, online: ``online.iterations`` of :class:`~turngym.algos.online_dpo.OnlineDPO` on
    ``task_ids``, each logged to ``metrics.jsonl``; returns totals over the run."""
    settings, algo = config.online, config.algo
    reference = engine.frozen_copy()  # pi_ref, and the "policy" judge
    judge = make_judge(settings.judge, reference, tokenizer)
    options = OnlineDPOConfig(
        tasks_per_iteration=settings.tasks_per_iteration,
        loss=algo.loss,
        loss_config=algo.settings_of(algo.loss),
        shape=config.pairs.shape,
        updates_per_iteration=settings.updates_per_iteration,
        seed=config.train.seed,
        wpo_alignment=algo.wpo_alignment,
    )
    online = OnlineDPO(
        engine,
        tokenizer,
        judge,
        pool,
        task_ids,
        agent.config,
        options,
        reference,
        backend=agent.backend,
    )
    history = []
    bar = tqdm(
        range(1, settings.iterations + 1),
        desc=f"online {algo.loss}",
        disable=not config.train.progress,
    )
    for iteration in bar:
        metrics = online.step()
        metrics.pop("iteration")  # OnlineDPO counts from 0; the log counts finished iterations
        logger.log(iteration, metrics)
        history.append(metrics)
        bar.set_postfix(
            pairs=f"{metrics['judge/pairs']:.0f}", won=f"{metrics['rollout/success_rate']:.2f}"
        )
        if settings.eval_every and iteration % settings.eval_every == 0:
            if iteration < settings.iterations:  # the last one is the "after" evaluation
                evaluate(f"iteration {iteration}", iteration)
    return online_summary(history, algo.loss)


def online_summary(history: list[dict[str, float]], loss: str) -> dict[str, float]:
    """Totals over the online iterations (agreement with ``won`` pooled over the pairs)."""
    decided = sum(m["judge/pairs_differing_in_won"] for m in history)
    agreeing = sum(
        m["judge/agreement_with_won"] * m["judge/pairs_differing_in_won"]
        for m in history
        if m["judge/pairs_differing_in_won"]
    )
    losses = [m[f"{loss}/loss"] for m in history if math.isfinite(m[f"{loss}/loss"])]
    return {
        "online/iterations": float(len(history)),
        "online/episodes": float(sum(2 * (m["judge/pairs"] + m["judge/ties"]) for m in history)),
        "judge/pairs": float(sum(m["judge/pairs"] for m in history)),
        "judge/ties": float(sum(m["judge/ties"] for m in history)),
        "judge/agreement_with_won": agreeing / decided if decided else math.nan,
        "judge/pairs_differing_in_won": float(decided),
        "rollout/success_rate_last": history[-1]["rollout/success_rate"],
        f"{loss}/loss_last": losses[-1] if losses else math.nan,
        **{
            key: float(sum(m[key] for m in history))
            for key in ("time/rollout_s", "time/judge_s", "time/train_s")
        },
    }


def train_sppo(
    engine: TrainEngine,
    tokenizer: Any,
    agent: Agent,
    pool: EnvPool,
    config: PreferenceRunConfig,
    task_ids: list[int],
    evaluate: Callable[[str, int], EvalReport],
    logger: MetricsLogger,
) -> dict[str, float]:
    """Step 3, SPPO: ``sppo.iterations`` of :class:`~turngym.algos.sppo.SPPO` on ``task_ids``,
    each logged to ``metrics.jsonl``; returns the last iteration's metrics."""
    settings = config.sppo
    policy_judge = settings.judge.kind == "llm" and settings.judge.model == "policy"
    judge = make_judge(settings.judge, engine.frozen_copy() if policy_judge else None, tokenizer)
    options = SPPOConfig(
        tasks_per_iteration=settings.tasks_per_iteration,
        samples_per_task=settings.samples_per_task,
        eta=settings.eta,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        preference=settings.preference,
        shape=config.pairs.shape,
        seed=config.train.seed,
    )
    sppo = SPPO(engine, tokenizer, judge, pool, task_ids, agent.config, options, agent.backend)
    bar = tqdm(range(1, settings.iterations + 1), desc="sppo", disable=not config.train.progress)
    metrics: dict[str, float] = {}
    for iteration in bar:
        metrics = sppo.step()
        logger.log(iteration, metrics)
        bar.set_postfix(won=f"{metrics['rollout/success_rate']:.2f}")
        if settings.eval_every and iteration % settings.eval_every == 0:
            if iteration < settings.iterations:
                evaluate(f"iteration {iteration}", iteration)
    return {f"{key}_last" if not key.endswith("_last") else key: value
            for key, value in metrics.items()}  # fmt: skip


def split_train_tasks(config: PreferenceRunConfig) -> tuple[list[int], list[int]]:
    """Disjoint warm-start and training task ids from ``env.train_tasks``: offline, one draw of
    ``warm_start.expert_tasks + pairs.tasks`` ids; online, the warm-start draw and every other
    train task (online DPO draws its own from them each iteration)."""
    warm, tasks = config.warm_start.expert_tasks, config.env.train_tasks
    rng = np.random.default_rng(config.train.seed)
    needed = warm + config.pairs.tasks if config.mode == "offline" else warm
    drawn = (rng.choice(tasks.stop - tasks.start, needed, replace=False) + tasks.start).tolist()
    if config.mode == "offline":
        return drawn[:warm], drawn[warm:]
    return drawn, sorted(set(range(tasks.start, tasks.stop)) - set(drawn))


def run_preference(config: PreferenceRunConfig) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; returns the evaluations, metrics and checkpoint."""
    run, warm = config.train, config.warm_start
    config.env.check_tasks(run.eval_episodes)
    judge = config.online.judge
    if config.mode == "sppo":
        judge = config.sppo.judge
    if config.mode != "offline" and judge.kind == "chat":  # before any work, not after the first
        make_judge(judge, None, None).check_reachable()  # evaluation
    output = Path(run.output_dir)
    prepare_run_folder(output, resume=False, overwrite=run.overwrite)
    if run.torch_threads:
        torch.set_num_threads(run.torch_threads)
    torch.manual_seed(run.seed)
    model, tokenizer = run_policy(config)
    model.eval()
    agent_config = AgentConfig(**config.agent.model_dump())
    backend = policy_backend(config.model, model, tokenizer, seed=run.seed)
    agent = Agent(backend, tokenizer, agent_config, seed=run.seed)
    algo = config.algo
    engine = TorchEngine(model, algo.learning_rate, max_grad_norm=algo.max_grad_norm)
    warm_ids, train_ids = split_train_tasks(config)
    eval_ids = config.env.eval_task_ids(run.eval_episodes)
    evaluations: dict[str, dict[str, Any]] = {}
    metrics: dict[str, float] = {}
    logger = MetricsLogger(output) if config.mode != "offline" else None

    def evaluate(stage: str, iteration: int = 0) -> EvalReport:
        model.eval()
        report = evaluate_policy(
            backend, tokenizer, agent_config, pool, eval_ids, run.seed, run.progress
        )
        if stage in ("before", "warm_start", "after"):
            evaluations[stage] = report.to_dict()
        if logger is not None:
            log_evaluation(logger, iteration, report)
        tqdm.write(f"[{stage}] eval: {report.summary()}")
        return report

    needs_expert = warm.expert_tasks or (
        config.mode == "offline" and "expert_vs_sampled" in config.pairs.sources
    )
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(config.env.make_pool(config.rollout))
        experts = None
        if needs_expert:
            experts = stack.enter_context(config.env.make_pool(config.rollout, expert=True))
        evaluate("before")
        if warm.expert_tasks:
            demonstrations = expert_trajectories(agent, experts, warm_ids)
            warm_engine = TorchEngine(model, warm.learning_rate)  # its own optimizer, clip at 1
            metrics.update(
                sft(
                    warm_engine,
                    tokenizer,
                    demonstrations,
                    agent_config,
                    epochs=warm.epochs,
                    batch_size=warm.batch_size,
                    seed=run.seed,
                )
            )
            backend.load_weights(warm_engine.state_dict_for_inference())
            evaluate("warm_start")
        if config.mode == "offline":
            metrics.update(
                train_offline(engine, tokenizer, agent, pool, config, train_ids, experts)
            )
        elif config.mode == "online":
            metrics.update(
                train_online(engine, tokenizer, agent, pool, config, train_ids, evaluate, logger)
            )
        else:
            metrics.update(
                train_sppo(engine, tokenizer, agent, pool, config, train_ids, evaluate, logger)
            )
        iterations = {"online": config.online.iterations, "sppo": config.sppo.iterations}
        evaluate("after", iterations.get(config.mode, 0))
    if logger is not None:
        logger.close()
    save_checkpoint(
        output, engine, tokenizer, agent_config, run_config=config.model_dump(), metrics=metrics
    )
    result = {**evaluations, "metrics": metrics, "checkpoint": str(output)}
    write_json(output / "result.json", result)
    return result
