"""The on-policy trainer on plain PyTorch.

Each iteration: sample N tasks, roll out G episodes per task (:mod:`turngym.agents.rollout`),
compute advantages with the configured estimator, cut trajectories into step samples and take
``epochs`` passes of mini-batched clipped policy-gradient updates, with an optional KL term to a
frozen reference model. Evaluation on held-out tasks, checkpoints (``save_pretrained`` folders plus
trainer state) and exact resume are built in: every iteration re-seeds its random streams from
``(seed, iteration)``, so a resumed run repeats the uninterrupted one.

Several processes (``engine.kind: deepspeed`` under the ``deepspeed`` launcher or ``torchrun``):
every rank draws the same N tasks, rolls out its own share of the N groups (groups r, r + k, ...
of k ranks; a group is never split, so group baselines see the whole group), computes
advantages on its groups and back-propagates its step samples; DeepSpeed averages the gradients.
The ranks take the same number of optimizer steps (a rank with fewer mini-batches adds steps
of zero weight), rank 0 writes checkpoints and metrics (``ranks/rank<r>/`` holds the others').
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import load_policy, load_pretrained, policy_backend
from turngym.agents.rollout import EpisodeSpec, group_episodes, run_episodes
from turngym.agents.trajectory import Trajectory, save_trajectories
from turngym.common.run_folder import (
    STATE_FILE,
    checkpoint_folder,
    latest_checkpoint,
    prepare_run_folder,
)
from turngym.config.run import PreferenceRunConfig, RunConfig
from turngym.rewards.scorers import Rubric, ScoringContext

from .behaviour_cloning import sft
from .critic import ValueModel, critic_loss, critic_rows, final_values, step_values
from .demonstrations import expert_trajectories
from .engine import TorchEngine, make_engine, save_checkpoint
from .evaluate import EvalReport, evaluate_policy
from .losses import aggregation_denominator, kl_estimate, per_sample_terms, weighted_token_mean
from .metrics import MetricsLogger, log_evaluation, rollout_metrics, step_group_metrics
from .registry import advantage_needs, get_advantage, get_policy_loss
from .samples import StepSample, pad_units, sample_logprobs, step_samples


def _seed_for(seed: int, iteration: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, iteration, stream]).generate_state(1)[0])


def run_policy(config: RunConfig | PreferenceRunConfig) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer a run starts from (the tiny one built into ``base_model/``)."""
    build_dir = Path(config.train.output_dir) / "base_model"
    env = config.env
    return load_policy(config.model, build_dir, env.id, env.make_kwargs(), config.train.seed)


class Trainer:
    """On-policy RL for one environment (see the module docstring)."""

    def __init__(self, config: RunConfig):
        self.config = config
        config.env.check_tasks(config.train.eval_episodes)
        self.output_dir = Path(config.train.output_dir)
        self.rank, self.world_size = self._join_ranks()
        if config.train.torch_threads:
            torch.set_num_threads(config.train.torch_threads)
        torch.manual_seed(config.train.seed)
        with self._rank_zero_first():  # one rank prepares the folder and builds the tiny model
            self.resume_from = self._prepare_folder()
            if self.resume_from is not None:
                self.model, self.tokenizer = load_pretrained(self.resume_from, config.model.dtype)
            else:
                self.model, self.tokenizer = run_policy(config)
        self.agent_config = AgentConfig(**config.agent.model_dump())
        algo, engine = config.algo, config.engine
        # a backend of the trainer's own module only with the plain engine; DeepSpeed's ZeRO
        # partitions (and bf16 casts) its module, so rollouts run on a copy synced after updates
        self.backend = policy_backend(config.model, self.model, self.tokenizer,
                                      share_weights=engine.kind == "torch",
                                      seed=config.train.seed)  # fmt: skip
        self.engine = make_engine(
            engine.kind,
            self.model,
            learning_rate=algo.learning_rate,
            weight_decay=algo.weight_decay,
            max_grad_norm=algo.max_grad_norm,
            accumulation_steps=engine.accumulation_steps,
            deepspeed_config=engine.deepspeed,
        )
        self.model = self.engine.model
        self.agent = Agent(self.backend, self.tokenizer, self.agent_config, seed=config.train.seed)
        self.rubric = Rubric.from_specs(config.reward.scorers)
        self.needs = advantage_needs(algo.advantage)
        needs_reference = algo.kl_coef > 0 or "turn_kl" in self.rubric.needs
        self.reference = self.engine.frozen_copy() if needs_reference else None
        self.critic = self.critic_engine = None
        if "values" in self.needs:
            self.critic = ValueModel(self.model)
            self.critic_engine = TorchEngine(
                self.critic, algo.critic_learning_rate, max_grad_norm=algo.max_grad_norm
            )
        self.estimator = get_advantage(config.algo.advantage)
        self.policy_loss = get_policy_loss(config.algo.policy_loss)
        self.iteration = 0
        self.eval_history: list[dict[str, Any]] = []
        if self.resume_from is not None:
            self._load_state(self.resume_from)
            tqdm.write(f"resuming from {self.resume_from} (iteration {self.iteration})")
        self.pool = config.env.make_pool(config.rollout)
        resumed_at = None if self.resume_from is None else self.iteration
        self.metrics = MetricsLogger(self.rank_dir, tensorboard=self.rank == 0,
                                     resume_after=resumed_at)  # fmt: skip
        if self.rank == 0:
            (self.output_dir / "run_config.yaml").write_text(yaml.safe_dump(config.model_dump()))

    # -- several ranks -------------------------------------------------------------------------
    @property
    def rank_dir(self) -> Path:
        """Where this rank's metrics and trajectories go: the run folder for rank 0."""
        return self.output_dir / "ranks" / f"rank{self.rank}" if self.rank else self.output_dir

    def _join_ranks(self) -> tuple[int, int]:
        """This process's rank and the number of ranks: the launcher's process group with the
        deepspeed engine, else 0 of 1. N tasks split into whole groups: k must divide N."""
        if self.config.engine.kind != "deepspeed":
            return 0, 1
        from .deepspeed_engine import init_distributed, rank_and_world

        init_distributed()
        rank, world = rank_and_world()
        tasks = self.config.rollout.tasks_per_iteration
        if tasks % world:
            raise ValueError(f"rollout.tasks_per_iteration={tasks} groups do not split evenly "
                             f"over {world} ranks (a group is never split); use a multiple of "
                             f"{world}")  # fmt: skip
        return rank, world

    @contextlib.contextmanager
    def _rank_zero_first(self):
        """Rank 0 runs the block, then the others (after a barrier)."""
        if self.rank != 0:
            torch.distributed.barrier()
        yield
        if self.rank == 0 and self.world_size > 1:
            torch.distributed.barrier()

    def _prepare_folder(self) -> Path | None:
        """Rank 0 readies the run folder; the others find the checkpoint it chose."""
        train = self.config.train
        if self.rank == 0:
            return prepare_run_folder(self.output_dir, train.resume, train.overwrite)
        if train.resume is True:
            return latest_checkpoint(self.output_dir)
        return Path(train.resume) if train.resume else None

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        cfg = self.config.train
        if self.iteration == 0 and not self.eval_history:
            self._evaluate()
            if self.config.warm_start.expert_tasks:
                self.warm_start()
                self._evaluate()
        bar = tqdm(
            range(self.iteration, cfg.iterations),
            desc="train",
            disable=not cfg.progress,
            initial=self.iteration,
            total=cfg.iterations,
        )
        for iteration in bar:
            metrics = self.train_iteration(iteration)
            self.iteration = iteration + 1
            bar.set_postfix(success=f"{metrics.get('rollout/success_rate', float('nan')):.2f}")
            if cfg.eval_every and self.iteration % cfg.eval_every == 0:
                self._evaluate()
            if cfg.checkpoint_every and self.iteration % cfg.checkpoint_every == 0:
                self.save_checkpoint()
        if not self.eval_history or self.eval_history[-1]["iteration"] != self.iteration:
            self._evaluate()
        checkpoint = self.save_checkpoint()
        self.close()
        result = {"before": self.eval_history[0], "after": self.eval_history[-1]}
        if self.config.warm_start.expert_tasks and len(self.eval_history) > 2:
            result["warm_start"] = self.eval_history[1]  # after behaviour cloning, before RL
        return {**result, "checkpoint": str(checkpoint)}

    def train_iteration(self, iteration: int) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        torch.manual_seed(_seed_for(cfg.train.seed, iteration, 0))
        self.agent.rng = np.random.default_rng(_seed_for(cfg.train.seed, iteration, 1))
        self.model.eval()
        trajectories, sampling = self.collect(iteration)
        rollout_seconds = time.perf_counter() - start
        metrics = {**self.rollout_metrics(trajectories), **sampling}
        # episodes lost to an environment error are counted (rollout/env_errors), not trained on
        trajectories = [t for t in trajectories if t.error is None]
        reference = None
        if self.reference is not None:  # per turn, in trajectory order (as step_samples)
            unscored = step_samples(trajectories, [np.zeros(t.length) for t in trajectories])
            with torch.no_grad():  # kept beside the samples' old log-probs, on the CPU
                reference = [row.cpu() for row in self._logprobs(self.reference, unscored)]
        metrics.update(self.score(trajectories, reference))
        if cfg.train.save_trajectories:
            save_trajectories(trajectories, self.rank_dir / "trajectories"
                              / f"iter_{iteration + 1:05d}.parquet")  # fmt: skip
        advantages, critic_targets = self.advantages(trajectories)
        samples = step_samples(trajectories, advantages, cfg.algo.step_weighting)
        kl_loss_reference = reference if cfg.algo.kl_coef > 0 else None
        metrics.update(
            self.update(samples, _seed_for(cfg.train.seed, iteration, 3), kl_loss_reference)
        )
        self.sync_weights()
        steps = sum(t.length for t in trajectories)
        if critic_targets is not None:
            metrics.update(self.update_critic(trajectories, critic_targets, iteration))
        metrics["time/rollout_s"] = rollout_seconds
        metrics["time/iteration_s"] = time.perf_counter() - start
        metrics["time/env_steps_per_s"] = steps / max(rollout_seconds, 1e-9)
        tokens = sum(len(u.prompt_ids) + len(u.response_ids) for t in trajectories for u in t.turns)
        metrics["time/tokens_per_s"] = tokens / max(rollout_seconds, 1e-9)  # prompt + response
        self.metrics.log(iteration + 1, metrics)
        return metrics

    def collect(self, iteration: int) -> tuple[list[Trajectory], dict[str, float]]:
        """N tasks x G rollouts. With DAPO's dynamic sampling, groups whose returns are all
        equal (zero advantage under group baselines) are dropped and new tasks are rolled out,
        for at most ``max_sampling_rounds`` rounds, until N groups are kept."""
        cfg = self.config
        tasks, rollout = cfg.env.train_tasks, cfg.rollout
        task_rng = np.random.default_rng(_seed_for(cfg.train.seed, iteration, 2))
        rounds = rollout.max_sampling_rounds if rollout.dynamic_sampling else 1
        kept: list[list[Trajectory]] = []
        for round_index in range(rounds):
            task_ids = (
                task_rng.choice(
                    tasks.stop - tasks.start, rollout.tasks_per_iteration, replace=False
                )
                + tasks.start
            ).tolist()
            seed = iteration if rounds == 1 else iteration * rounds + round_index
            specs = group_episodes(task_ids, rollout.group_size, seed)
            mine = [spec for n, spec in enumerate(specs)  # groups rank, rank + k, ... (whole)
                    if (n // rollout.group_size) % self.world_size == self.rank]  # fmt: skip
            batch = run_episodes(self.agent, self.pool, mine, progress=cfg.train.progress)
            groups = [
                batch[i : i + rollout.group_size] for i in range(0, len(batch), rollout.group_size)
            ]
            if rollout.dynamic_sampling:
                groups = [g for g in groups if len({t.return_ for t in g}) > 1]
            kept += groups
            if len(kept) >= rollout.tasks_per_iteration // self.world_size:
                break
        kept = kept[: rollout.tasks_per_iteration // self.world_size]
        if "greedy_baseline" in self.needs:
            greedy = self._greedy_rollouts([group[0] for group in kept])
            kept = [group + [baseline] for group, baseline in zip(kept, greedy, strict=True)]
        stats = {
            "rollout/groups": float(len(kept)),
            "rollout/sampling_rounds": float(round_index + 1),
        }
        return [t for group in kept for t in group], stats

    def rollout_metrics(self, trajectories: list[Trajectory]) -> dict[str, float]:
        """Statistics of the sampled rollouts; greedy baselines (for an estimator that needs
        them, e.g. ReMax) are logged apart, as ``rollout/greedy_*``."""
        greedy, sampled = [], []
        suffix = self._greedy_suffix()
        for trajectory in trajectories:
            baseline = suffix is not None and trajectory.episode_id.endswith(suffix)
            (greedy if baseline else sampled).append(trajectory)
        metrics = {**rollout_metrics(sampled), **step_group_metrics(sampled)}
        if greedy:
            metrics.update(rollout_metrics(greedy, prefix="rollout/greedy_"))
        return metrics

    def advantages(
        self, trajectories: list[Trajectory]
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """The configured estimator's per-turn advantages, given what it needs; for one that
        needs ``values``, also the critic's regression targets."""
        algo = self.config.algo
        settings = algo.settings_of(algo.advantage)
        if "values" not in self.needs:
            return self.estimator(trajectories, settings), None
        pad = self.tokenizer.pad_token_id or 0
        values = step_values(self.critic, trajectories, settings, pad)
        last_values = final_values(self.critic, self.agent, trajectories, settings, pad)
        estimate = self.estimator(trajectories, settings, values=values, last_values=last_values)
        return estimate.advantages, estimate.critic_targets

    def update_critic(
        self, trajectories: list[Trajectory], targets: list[np.ndarray], iteration: int
    ) -> dict[str, float]:
        """``epochs`` passes of mini-batched regression of V on R, a mini-batch being
        ``minibatch_size`` turns (with all their values when GAE runs per token)."""
        algo = self.config.algo
        contexts, counts = critic_rows(trajectories, algo.gae)
        generator = torch.Generator().manual_seed(_seed_for(self.config.train.seed, iteration, 4))
        pad, losses = self.tokenizer.pad_token_id or 0, []
        rows = [i for i, count in enumerate(counts) if count > 0]
        self.critic.train()
        for _ in range(algo.epochs):
            order = torch.randperm(len(rows), generator=generator).tolist()
            for begin in range(0, len(order), algo.minibatch_size):
                batch = [rows[i] for i in order[begin : begin + algo.minibatch_size]]
                returns = torch.tensor(np.concatenate([targets[i] for i in batch]),
                                       dtype=torch.float32)  # fmt: skip
                loss = critic_loss(self.critic, [contexts[i] for i in batch],
                                   [counts[i] for i in batch], returns, pad)  # fmt: skip
                self.critic_engine.backward_and_step(loss)
                losses.append(loss.item())
        self.critic.eval()
        return {"critic/loss": float(np.mean(losses)) if losses else 0.0}

    def _greedy_rollouts(self, members: list[Trajectory]) -> list[Trajectory]:
        """ReMax's baselines: one argmax rollout from each group's initial state (all groups in
        one batched run), marked by the suffix ``algo.remax.greedy_episode_suffix`` names (the
        config requires one: ReMax finds the baselines by it)."""
        suffix = self._greedy_suffix()
        config = dataclasses.replace(self.agent_config, temperature=0.0)
        greedy = Agent(self.agent.backend, self.tokenizer, config)
        specs = [EpisodeSpec(m.group_id + suffix, m.group_id, m.task_id, m.seed) for m in members]
        return run_episodes(greedy, self.pool, specs)

    def _greedy_suffix(self) -> str | None:
        """How greedy baselines are marked: the estimator's ``greedy_episode_suffix``."""
        if "greedy_baseline" not in self.needs:
            return None
        algo = self.config.algo
        return algo.settings_of(algo.advantage).greedy_episode_suffix

    def score(
        self, trajectories: list[Trajectory], reference: list[torch.Tensor] | None
    ) -> dict[str, float]:
        """The reward stage: the rubric's weighted terms beside each turn's environment reward
        (``reward.scorers``), given what its scorers need; ``reference``: per-turn reference
        log-probs, in step-sample order, for the per-turn KL sum_u KL(pi_old || pi_ref)."""
        context = ScoringContext(max_new_tokens=self.agent_config.max_new_tokens)
        if "turn_kl" in self.rubric.needs:
            turns = [turn for t in trajectories for turn in t.turns]
            estimator = self.config.algo.kl_estimator
            flat = [kl_estimate(torch.tensor(t.response_logprobs), ref, estimator).sum().item()
                    for t, ref in zip(turns, reference, strict=True)]  # fmt: skip
            bounds = np.cumsum([0] + [t.length for t in trajectories])
            context.turn_kl = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return self.rubric.apply(trajectories, context)

    def update(
        self,
        samples: list[StepSample],
        seed: int,
        reference: list[torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """``epochs`` passes of mini-batched clipped policy-gradient steps over ``samples``.

        Each mini-batch's loss is ``algo.loss_aggregation`` of the per-unit losses, samples
        weighted by ``weight``. A sample whose advantage is 0 adds nothing to the policy term,
        so when there is no KL or entropy term it skips the forward pass and counts in the
        denominator only (same gradient, less work); a mini-batch of only such samples takes
        no optimizer step. ``reference``: per-sample reference log-probs for a KL loss term.
        """
        algo = self.config.algo
        can_skip = reference is None and algo.entropy_coef == 0
        generator = torch.Generator().manual_seed(seed)
        minibatch_size = max(1, algo.minibatch_size // self.world_size)  # per rank
        steps: list[tuple[list[int], float]] = []  # (sample indices, loss denominator)
        for _ in range(algo.epochs):
            order = torch.randperm(len(samples), generator=generator).tolist()
            for begin in range(0, len(order), minibatch_size):
                batch = order[begin : begin + minibatch_size]
                denominator = aggregation_denominator(
                    [len(samples[i].old_logprobs) for i in batch],
                    [samples[i].weight for i in batch],
                    algo.loss_aggregation,
                    algo.loss_norm_constant,
                )
                if can_skip:
                    batch = [i for i in batch if samples[i].has_advantage()]
                if batch or self.world_size > 1:
                    steps.append((batch, denominator))
        steps += [([], 1.0)] * (self._most_steps_of_any_rank(len(steps)) - len(steps))
        sums: dict[str, float] = {}
        count = 0
        self.model.train()
        bar = tqdm(total=len(steps), desc="update", disable=not self.config.train.progress,
                   leave=False)  # fmt: skip
        for batch, denominator in steps:
            bar.update(1)
            if not batch:  # another rank steps: join it with a step of zero weight
                self._step([dataclasses.replace(samples[0], weight=0.0)], 1.0, None)
                continue
            batch_reference = None if reference is None else [reference[i] for i in batch]
            stats = self._step([samples[i] for i in batch], denominator, batch_reference)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
        bar.close()
        self.model.eval()
        return {key: value / max(count, 1) for key, value in sums.items()}

    def _most_steps_of_any_rank(self, steps: int) -> int:
        """Each DeepSpeed step is collective: every rank takes as many as the busiest one."""
        if self.world_size == 1:
            return steps
        from .deepspeed_engine import collective_device

        count = torch.tensor([steps], device=collective_device())
        torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)
        return int(count)

    def sync_weights(self) -> None:
        """Hand the updated weights to the inference backend (a no-op when it shares the
        trainer's module; a copy into vLLM or any backend with weights of its own)."""
        self.backend.load_weights(self.engine.state_dict_for_inference())

    def _logprobs(self, model: torch.nn.Module, samples: list[StepSample], with_entropy=False):
        pad = self.tokenizer.pad_token_id or 0
        mode, temperature = self.agent_config.mode, self.agent_config.temperature
        return sample_logprobs(model, samples, mode, temperature, pad, with_entropy=with_entropy)

    def _step(
        self,
        batch: list[StepSample],
        denominator: float,
        reference: list[torch.Tensor] | None,
    ) -> dict[str, float]:
        """One optimizer step: policy term (+ beta * KL) (- entropy_coef * H), each aggregated
        as ``sum_i w_i term_i / denominator`` (see :func:`per_sample_terms`)."""
        algo = self.config.algo
        logprob_rows, entropy_rows = self._logprobs(self.model, batch, with_entropy=True)
        device = logprob_rows[0].device  # the model's: the loss is computed where it runs
        logprobs, mask = pad_units(logprob_rows, device)
        old, _ = pad_units([s.old_logprobs for s in batch], device)
        advantages, _ = pad_units([s.advantage_per_unit() for s in batch], device)
        weights = torch.tensor([s.weight for s in batch], device=device)

        def aggregate(unit_values: torch.Tensor) -> torch.Tensor:
            terms = per_sample_terms(unit_values, mask, algo.loss_aggregation)
            return (weights * terms).sum() / denominator

        settings = algo.settings_of(algo.policy_loss)
        unit_loss, extra = self.policy_loss(logprobs, old, advantages, settings, mask=mask)
        loss = aggregate(unit_loss)
        stats = {"loss/policy": loss.item()}
        if reference is not None:
            kl = aggregate(kl_estimate(logprobs, pad_units(reference, device)[0],
                                       algo.kl_estimator))  # fmt: skip
            loss = loss + algo.kl_coef * kl
            stats["loss/kl"] = kl.item()
        entropy = aggregate(pad_units(entropy_rows, device)[0])
        stats["policy/entropy"] = entropy.item()
        if algo.entropy_coef:
            loss = loss - algo.entropy_coef * entropy
        stepped = self.engine.backward_and_step(loss)
        stats["loss/total"] = loss.item()
        stats["loss/grad_norm"] = stepped.get("grad_norm", float("nan"))  # nan: accumulating
        stats["loss/clip_fraction"] = weighted_token_mean(extra["clipped"], mask).item()
        stats["loss/approx_kl_old"] = weighted_token_mean(old - logprobs.detach(), mask).item()
        return stats

    def warm_start(self) -> dict[str, float]:
        """Behaviour cloning on ``warm_start.expert_tasks`` expert episodes of train tasks."""
        cfg, warm = self.config, self.config.warm_start
        rng = np.random.default_rng(_seed_for(cfg.train.seed, 0, 5))  # stream 5: warm start
        tasks = cfg.env.train_tasks
        task_ids = (
            rng.choice(tasks.stop - tasks.start, warm.expert_tasks, replace=False) + tasks.start
        ).tolist()
        with cfg.env.make_pool(cfg.rollout, expert=True) as experts:
            demonstrations = expert_trajectories(self.agent, experts, task_ids)
        engine = TorchEngine(self.model, warm.learning_rate)  # a fresh optimizer, clip at 1
        metrics = sft(
            engine,
            self.tokenizer,
            demonstrations,
            self.agent_config,
            epochs=warm.epochs,
            batch_size=warm.batch_size,
            seed=cfg.train.seed,
        )
        self.sync_weights()
        metrics["warm_start/expert_success_rate"] = float(np.mean([d.won for d in demonstrations]))
        self.metrics.log(0, metrics)
        tqdm.write(f"warm start: behaviour cloning on {len(demonstrations)} expert episodes")
        return metrics

    # -- evaluation and checkpoints ------------------------------------------------------------
    def evaluate(self, episodes: int | None = None) -> EvalReport:
        cfg = self.config
        task_ids = cfg.env.eval_task_ids(episodes or cfg.train.eval_episodes)
        self.model.eval()
        return evaluate_policy(
            self.agent.backend,
            self.tokenizer,
            self.agent_config,
            self.pool,
            task_ids,
            cfg.train.seed,
            rubric=self.evaluation_rubric,
            progress=cfg.train.progress,
            ranks=(self.rank, self.world_size),  # each rank plays its share of the episodes
        )

    @property
    def evaluation_rubric(self) -> Rubric:
        """The run's scorers that need only the trajectories (``kl`` needs the loop's KL)."""
        return Rubric([term for term in self.rubric.terms if not term.scorer.needs])

    def _evaluate(self) -> None:
        report = self.evaluate()
        row = {"iteration": self.iteration, **report.to_dict()}
        self.eval_history.append(row)
        log_evaluation(self.metrics, self.iteration, report)
        tqdm.write(f"[iteration {self.iteration}] eval: {report.summary()}")

    def save_checkpoint(self) -> Path:
        state = {
            "iteration": self.iteration,
            "engine": self.engine.state_dict(),
            "eval_history": self.eval_history,
            "reference": None if self.reference is None else self.reference.state_dict(),
            "critic": None if self.critic is None else self.critic.state_dict(),
            "critic_engine": None if self.critic is None else self.critic_engine.state_dict(),
        }
        return save_checkpoint(
            checkpoint_folder(self.output_dir, self.iteration),
            self.engine,
            self.tokenizer,
            self.agent_config,
            run_config=self.config.model_dump(),
            trainer_state=state,
        )

    def _load_state(self, folder: Path) -> None:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
        self.iteration = state["iteration"]
        self.engine.load_state_dict(state["engine"])
        self.eval_history = state["eval_history"]
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])
        if self.critic is not None and state.get("critic") is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_engine.load_state_dict(state["critic_engine"])

    def close(self) -> None:
        self.pool.close()
        self.metrics.close()
        if self.world_size > 1:
            torch.distributed.barrier()  # no rank leaves while another still writes
