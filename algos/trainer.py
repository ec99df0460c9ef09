"""The on-policy trainer on plain PyTorch.

Each iteration: sample N tasks, roll out G episodes per task (:mod:`turngym.agents.rollout`),
compute advantages with the configured estimator, cut trajectories into step samples and take
``epochs`` passes of mini-batched clipped policy-gradient updates, with an optional KL term to a
frozen reference model. Evaluation on held-out tasks, checkpoints (``save_pretrained`` folders plus
trainer state) and exact resume are built in: every iteration re-seeds its random streams from
``(seed, iteration)``, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import TransformersBackend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import EpisodeSpec, group_episodes, run_episodes
from turngym.agents.tiny import build_tiny_model
from turngym.agents.trajectory import Trajectory

from .advantages import gae_estimate, is_greedy_rollout
from .config import PreferenceRunConfig, RunConfig
from .critic import ValueModel, critic_loss, critic_rows, final_values, step_values
from .evaluate import EvalReport, evaluate_policy
from .losses import aggregation_denominator, kl_estimate, per_sample_terms, weighted_token_mean
from .metrics import MetricsLogger, rollout_metrics, step_group_metrics
from .offline import expert_trajectories, sft
from .registry import get_advantage, get_policy_loss
from .samples import StepSample, pad_units, sample_logprobs, step_samples

STATE_FILE = "trainer_state.pt"


def _seed_for(seed: int, iteration: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, iteration, stream]).generate_state(1)[0])


def load_policy(config: RunConfig | PreferenceRunConfig) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer to start from (building the tiny one offline if asked)."""
    source = config.model.name_or_path
    if source == "tiny":
        folder = Path(config.train.output_dir) / "base_model"
        if not (folder / "config.json").exists():
            tiny = config.model.tiny
            build_tiny_model(
                folder,
                env_ids=[config.env.id],
                env_kwargs={config.env.id: config.env.make_kwargs()},
                vocab_size=tiny.vocab_size,
                seed=config.train.seed,
                hidden_size=tiny.hidden_size,
                num_layers=tiny.num_layers,
                num_heads=tiny.num_heads,
                intermediate_size=tiny.intermediate_size,
            )
        source = str(folder)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, config.model.dtype))
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    return model, tokenizer


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = sorted(Path(output_dir, "checkpoints").glob("iter_*/" + STATE_FILE))
    return found[-1].parent if found else None


class Trainer:
    """On-policy RL for one environment (see the module docstring)."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.output_dir = Path(config.train.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if config.train.torch_threads:
            torch.set_num_threads(config.train.torch_threads)
        torch.manual_seed(config.train.seed)
        self.resume_from = self._resume_folder()
        if self.resume_from is not None:
            self.model = AutoModelForCausalLM.from_pretrained(self.resume_from)
            self.tokenizer = AutoTokenizer.from_pretrained(self.resume_from)
            self.tokenizer.padding_side = "left"
        else:
            self.model, self.tokenizer = load_policy(config)
        self.agent_config = AgentConfig(**config.agent.model_dump())
        self.agent = Agent(
            TransformersBackend(self.model, self.tokenizer),
            self.tokenizer,
            self.agent_config,
            seed=config.train.seed,
        )
        self.reference = None
        if config.algo.kl_coef > 0:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.algo.learning_rate,
            weight_decay=config.algo.weight_decay,
        )
        self.critic = self.critic_optimizer = None
        if config.algo.advantage == "gae":
            self.critic = ValueModel(self.model)
            self.critic_optimizer = torch.optim.AdamW(
                self.critic.parameters(), lr=config.algo.critic_learning_rate
            )
        self.estimator = get_advantage(config.algo.advantage)
        self.policy_loss = get_policy_loss(config.algo.policy_loss)
        self.iteration = 0
        self.eval_history: list[dict[str, Any]] = []
        if self.resume_from is not None:
            self._load_state(self.resume_from)
        rollout = config.rollout
        env_kwargs = config.env.make_kwargs()
        self.pool = EnvPool(
            config.env.id, env_kwargs, rollout.num_slots, rollout.num_workers, rollout.step_timeout
        )
        self.metrics = MetricsLogger(self.output_dir)
        (self.output_dir / "run_config.yaml").write_text(yaml.safe_dump(config.model_dump()))

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
        return {
            "before": self.eval_history[0],
            "after": self.eval_history[-1],
            "checkpoint": str(checkpoint),
        }

    def train_iteration(self, iteration: int) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        torch.manual_seed(_seed_for(cfg.train.seed, iteration, 0))
        self.agent.rng = np.random.default_rng(_seed_for(cfg.train.seed, iteration, 1))
        self.model.eval()
        trajectories, sampling = self.collect(iteration)
        rollout_seconds = time.perf_counter() - start
        metrics = {**self.rollout_metrics(trajectories), **sampling}
        reference = None
        if self.reference is not None:  # per turn, in trajectory order (as step_samples)
            unscored = step_samples(trajectories, [np.zeros(t.length) for t in trajectories])
            with torch.no_grad():
                reference = self._logprobs(self.reference, unscored)
        metrics.update(self.shape_rewards(trajectories, reference))
        advantages, critic_targets = self.advantages(trajectories)
        samples = step_samples(trajectories, advantages, cfg.algo.step_weighting)
        kl_loss_reference = None if cfg.algo.kl_in_reward else reference
        metrics.update(self.update(samples, _seed_for(cfg.train.seed, iteration, 3),
                                   kl_loss_reference))  # fmt: skip
        steps = sum(t.length for t in trajectories)
        if critic_targets is not None:
            metrics.update(self.update_critic(trajectories, critic_targets, iteration))
        metrics["time/rollout_s"] = rollout_seconds
        metrics["time/iteration_s"] = time.perf_counter() - start
        metrics["time/env_steps_per_s"] = steps / max(rollout_seconds, 1e-9)
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
            batch = run_episodes(
                self.agent, self.pool, group_episodes(task_ids, rollout.group_size, seed)
            )
            groups = [
                batch[i : i + rollout.group_size] for i in range(0, len(batch), rollout.group_size)
            ]
            if rollout.dynamic_sampling:
                groups = [g for g in groups if len({t.return_ for t in g}) > 1]
            kept += groups
            if len(kept) >= rollout.tasks_per_iteration:
                break
        kept = kept[: rollout.tasks_per_iteration]
        if cfg.algo.advantage == "remax":
            greedy = self._greedy_rollouts([group[0] for group in kept])
            kept = [group + [baseline] for group, baseline in zip(kept, greedy, strict=True)]
        stats = {
            "rollout/groups": float(len(kept)),
            "rollout/sampling_rounds": float(round_index + 1),
        }
        return [t for group in kept for t in group], stats

    def rollout_metrics(self, trajectories: list[Trajectory]) -> dict[str, float]:
        """Statistics of the sampled rollouts; ReMax's greedy baselines (advantage 0) are
        logged apart, as ``rollout/greedy_*``."""
        algo = self.config.algo
        greedy, sampled = [], []
        for trajectory in trajectories:
            baseline = algo.advantage == "remax" and is_greedy_rollout(trajectory, algo.remax)
            (greedy if baseline else sampled).append(trajectory)
        metrics = {**rollout_metrics(sampled), **step_group_metrics(sampled)}
        if greedy:
            metrics.update(rollout_metrics(greedy, prefix="rollout/greedy_"))
        return metrics

    def advantages(
        self, trajectories: list[Trajectory]
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """The configured estimator's per-turn advantages; for ``gae``, also the critic's
        regression targets R = A + V per turn (before the batch whitening of A)."""
        algo = self.config.algo
        settings = algo.settings_of(algo.advantage)
        if self.critic is None:
            return self.estimator(trajectories, settings), None
        pad = self.tokenizer.pad_token_id or 0
        values = step_values(self.critic, trajectories, settings, pad)
        last_values = final_values(self.critic, self.agent, trajectories, settings, pad)
        estimate = gae_estimate(trajectories, settings, values, last_values)
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
                self.critic_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), algo.max_grad_norm)
                self.critic_optimizer.step()
                losses.append(loss.item())
        self.critic.eval()
        return {"critic/loss": float(np.mean(losses)) if losses else 0.0}

    def _greedy_rollouts(self, members: list[Trajectory]) -> list[Trajectory]:
        """ReMax's baselines: one argmax rollout from each group's initial state (all groups in
        one batched run), marked by the suffix ``algo.remax.greedy_episode_suffix`` names (the
        config requires one: ReMax finds the baselines by it)."""
        suffix = self.config.algo.remax.greedy_episode_suffix
        config = dataclasses.replace(self.agent_config, temperature=0.0)
        greedy = Agent(self.agent.backend, self.tokenizer, config)
        specs = [EpisodeSpec(m.group_id + suffix, m.group_id, m.task_id, m.seed) for m in members]
        return run_episodes(greedy, self.pool, specs)

    def shape_rewards(
        self, trajectories: list[Trajectory], reference: list[torch.Tensor] | None
    ) -> dict[str, float]:
        """Per-turn reward terms added before advantages are computed.

        DAPO overlong shaping (generate mode): with L = agent.max_new_tokens and C =
        algo.overlong_buffer, a response of |y| tokens gets penalty * min(0, (L - C - |y|) / C).
        KL in the reward: r_t -= beta * sum over the turn's units of KL(pi_old || pi_ref).
        """
        algo, turns = self.config.algo, [turn for t in trajectories for turn in t.turns]
        stats: dict[str, float] = {}
        if algo.overlong_buffer and self.agent_config.mode == "generate":
            limit = self.agent_config.max_new_tokens - algo.overlong_buffer
            penalties = [
                algo.overlong_penalty
                * min(0.0, (limit - len(t.response_ids)) / algo.overlong_buffer)
                for t in turns
            ]
            for turn, penalty in zip(turns, penalties, strict=True):
                turn.reward += penalty
            stats["reward/overlong_penalty"] = float(np.mean(penalties)) if penalties else 0.0
        if algo.kl_in_reward and reference is not None:
            kls = [
                kl_estimate(torch.tensor(t.response_logprobs), ref, algo.kl_estimator).sum().item()
                for t, ref in zip(turns, reference, strict=True)
            ]
            for turn, kl in zip(turns, kls, strict=True):
                turn.reward -= algo.kl_coef * kl
            stats["reward/kl"] = float(np.mean(kls)) if kls else 0.0
        return stats

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
        sums: dict[str, float] = {}
        count = 0
        self.model.train()
        for _ in range(algo.epochs):
            order = torch.randperm(len(samples), generator=generator).tolist()
            for begin in range(0, len(order), algo.minibatch_size):
                batch = order[begin : begin + algo.minibatch_size]
                denominator = aggregation_denominator(
                    [len(samples[i].old_logprobs) for i in batch],
                    [samples[i].weight for i in batch],
                    algo.loss_aggregation,
                    algo.loss_norm_constant,
                )
                if can_skip:
                    batch = [i for i in batch if samples[i].has_advantage()]
                if not batch:
                    continue
                batch_reference = None if reference is None else [reference[i] for i in batch]
                stats = self._step([samples[i] for i in batch], denominator, batch_reference)
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
        self.model.eval()
        return {key: value / max(count, 1) for key, value in sums.items()}

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
        logprobs, mask = pad_units(logprob_rows)
        old, _ = pad_units([s.old_logprobs for s in batch])
        advantages, _ = pad_units([s.advantage_per_unit() for s in batch])
        weights = torch.tensor([s.weight for s in batch])

        def aggregate(unit_values: torch.Tensor) -> torch.Tensor:
            terms = per_sample_terms(unit_values, mask, algo.loss_aggregation)
            return (weights * terms).sum() / denominator

        settings = algo.settings_of(algo.policy_loss)
        unit_loss, extra = self.policy_loss(logprobs, old, advantages, settings, mask=mask)
        loss = aggregate(unit_loss)
        stats = {"loss/policy": loss.item()}
        if reference is not None:
            kl = aggregate(kl_estimate(logprobs, pad_units(reference)[0], algo.kl_estimator))
            loss = loss + algo.kl_coef * kl
            stats["loss/kl"] = kl.item()
        entropy = aggregate(pad_units(entropy_rows)[0])
        stats["policy/entropy"] = entropy.item()
        if algo.entropy_coef:
            loss = loss - algo.entropy_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), algo.max_grad_norm)
        self.optimizer.step()
        stats["loss/total"] = loss.item()
        stats["loss/grad_norm"] = float(grad_norm)
        stats["loss/clip_fraction"] = weighted_token_mean(extra["clipped"], mask).item()
        stats["loss/approx_kl_old"] = weighted_token_mean(old - logprobs.detach(), mask).item()
        return stats

    def warm_start(self) -> dict[str, float]:
        """Behaviour cloning on ``warm_start.expert_tasks`` expert episodes of train tasks."""
        cfg, warm = self.config, self.config.warm_start
        rng = np.random.default_rng(_seed_for(cfg.train.seed, 0, 5))  # stream 5: warm start
        tasks = cfg.env.train_tasks
        task_ids = (rng.choice(tasks.stop - tasks.start, warm.expert_tasks, replace=False)
                    + tasks.start).tolist()  # fmt: skip
        demonstrations = expert_trajectories(self.agent, cfg.env.id, task_ids,
                                             cfg.env.make_kwargs())  # fmt: skip
        metrics = sft(self.model, self.tokenizer, demonstrations, self.agent_config,
                      epochs=warm.epochs, batch_size=warm.batch_size,
                      learning_rate=warm.learning_rate, seed=cfg.train.seed)  # fmt: skip
        metrics["warm_start/expert_success_rate"] = float(np.mean([d.won for d in demonstrations]))
        self.metrics.log(0, metrics)
        tqdm.write(f"warm start: behaviour cloning on {len(demonstrations)} expert episodes")
        return metrics

    # -- evaluation and checkpoints ------------------------------------------------------------
    def evaluate(self, episodes: int | None = None) -> EvalReport:
        cfg = self.config
        task_ids = cfg.env.eval_task_ids(episodes or cfg.train.eval_episodes)
        self.model.eval()
        return evaluate_policy(self.agent.backend, self.tokenizer, self.agent_config, self.pool,
                               task_ids, cfg.train.seed)  # fmt: skip

    def _evaluate(self) -> None:
        report = self.evaluate()
        row = {"iteration": self.iteration, **report.to_dict()}
        self.eval_history.append(row)
        self.metrics.log(
            self.iteration,
            {
                "eval/success_rate": report.success_rate,
                "eval/mean_return": report.mean_return,
                "eval/mean_length": report.mean_length,
            },
        )
        tqdm.write(f"[iteration {self.iteration}] eval: {report.summary()}")

    def save_checkpoint(self) -> Path:
        folder = self.output_dir / "checkpoints" / f"iter_{self.iteration:05d}"
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        self.agent_config.save(folder)
        (folder / "run_config.yaml").write_text(yaml.safe_dump(self.config.model_dump()))
        state = {
            "iteration": self.iteration,
            "optimizer": self.optimizer.state_dict(),
            "eval_history": self.eval_history,
            "reference": None if self.reference is None else self.reference.state_dict(),
            "critic": None if self.critic is None else self.critic.state_dict(),
            "critic_optimizer": None
            if self.critic_optimizer is None
            else self.critic_optimizer.state_dict(),
        }
        torch.save(state, folder / STATE_FILE)
        return folder

    def _resume_folder(self) -> Path | None:
        resume = self.config.train.resume
        if resume is False:
            return None
        if resume is True:
            return latest_checkpoint(self.output_dir)
        folder = Path(resume)
        if not (folder / STATE_FILE).exists():
            raise FileNotFoundError(f"train.resume={resume!r}: no {STATE_FILE} in that folder")
        return folder

    def _load_state(self, folder: Path) -> None:
        state = torch.load(folder / STATE_FILE, weights_only=False)
        self.iteration = state["iteration"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.eval_history = state["eval_history"]
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])
        if self.critic is not None and state.get("critic") is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_optimizer.load_state_dict(state["critic_optimizer"])

    def close(self) -> None:
        self.pool.close()
        self.metrics.close()
