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
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.tiny import build_tiny_model
from turngym.agents.trajectory import Trajectory

from .advantages import step_group_size_histogram
from .config import RunConfig
from .evaluate import EvalReport, evaluate_agent
from .losses import kl_estimate, weighted_token_mean
from .metrics import MetricsLogger
from .registry import get_advantage, get_policy_loss
from .samples import StepSample, pad_units, sample_logprobs, step_samples

STATE_FILE = "trainer_state.pt"


def _seed_for(seed: int, iteration: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, iteration, stream]).generate_state(1)[0])


def load_policy(config: RunConfig) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer to start from (building the tiny one offline if asked)."""
    source = config.model.name_or_path
    if source == "tiny":
        folder = Path(config.train.output_dir) / "base_model"
        if not (folder / "config.json").exists():
            tiny = config.model.tiny
            build_tiny_model(
                folder,
                env_ids=[config.env.id],
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
            TransformersBackend(self.model, self.tokenizer), self.tokenizer, self.agent_config
        )
        self.reference = None
        if config.algo.kl_coef > 0:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.algo.learning_rate,
            weight_decay=config.algo.weight_decay,
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
            bar.set_postfix(success=f"{metrics['rollout/success_rate']:.2f}")
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
        task_rng = np.random.default_rng(_seed_for(cfg.train.seed, iteration, 2))
        tasks = cfg.env.train_tasks
        task_ids = (
            task_rng.choice(
                tasks.stop - tasks.start, size=cfg.rollout.tasks_per_iteration, replace=False
            )
            + tasks.start
        ).tolist()
        self.model.eval()
        trajectories = run_episodes(
            self.agent, self.pool, group_episodes(task_ids, cfg.rollout.group_size, iteration)
        )
        rollout_seconds = time.perf_counter() - start
        advantages = self.estimator(trajectories, cfg.algo.settings_of(cfg.algo.advantage))
        samples = step_samples(trajectories, advantages, cfg.algo.step_weighting)
        update = self.update(samples, _seed_for(cfg.train.seed, iteration, 3))
        steps = sum(t.length for t in trajectories)
        metrics = {
            **rollout_metrics(trajectories),
            **step_group_metrics(trajectories),
            **update,
            "time/rollout_s": rollout_seconds,
            "time/iteration_s": time.perf_counter() - start,
            "time/env_steps_per_s": steps / max(rollout_seconds, 1e-9),
        }
        self.metrics.log(iteration + 1, metrics)
        return metrics

    def update(self, samples: list[StepSample], seed: int) -> dict[str, float]:
        """``epochs`` passes of mini-batched clipped policy-gradient steps over ``samples``.

        The loss is the weighted token mean over each mini-batch. Samples whose advantage is 0
        add nothing to its numerator, so when there is no KL term they skip the forward pass and
        count in the denominator only (same gradient, less work); a mini-batch of only such
        samples takes no optimizer step.
        """
        algo = self.config.algo
        reference = None
        if self.reference is not None:
            with torch.no_grad():
                reference = self._logprobs(self.reference, samples)
        generator = torch.Generator().manual_seed(seed)
        sums: dict[str, float] = {}
        count = 0
        self.model.train()
        for _ in range(algo.epochs):
            order = torch.randperm(len(samples), generator=generator).tolist()
            for begin in range(0, len(order), algo.minibatch_size):
                batch = order[begin : begin + algo.minibatch_size]
                denominator = sum(samples[i].weight * len(samples[i].old_logprobs) for i in batch)
                if reference is None:
                    batch = [i for i in batch if samples[i].advantage != 0]
                if not batch:
                    continue
                batch_reference = None if reference is None else [reference[i] for i in batch]
                stats = self._step([samples[i] for i in batch], denominator, batch_reference)
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
        self.model.eval()
        return {key: value / max(count, 1) for key, value in sums.items()}

    def _logprobs(self, model: torch.nn.Module, samples: list[StepSample]) -> list[torch.Tensor]:
        pad = self.tokenizer.pad_token_id or 0
        return sample_logprobs(
            model, samples, self.agent_config.mode, self.agent_config.temperature, pad
        )

    def _step(
        self,
        batch: list[StepSample],
        denominator: float,
        reference: list[torch.Tensor] | None,
    ) -> dict[str, float]:
        """One optimizer step on ``sum_i w_i sum_t loss_it / denominator`` (+ beta * KL)."""
        algo = self.config.algo
        logprobs, mask = pad_units(self._logprobs(self.model, batch))
        old, _ = pad_units([s.old_logprobs for s in batch])
        advantages = torch.tensor([s.advantage for s in batch])[:, None].expand_as(mask)
        weighted_mask = mask * torch.tensor([s.weight for s in batch])[:, None]
        settings = algo.settings_of(algo.policy_loss)
        unit_loss, extra = self.policy_loss(logprobs, old, advantages, settings, mask=mask)
        loss = (unit_loss * weighted_mask).sum() / denominator
        stats = {"loss/policy": loss.item()}
        if reference is not None:
            ref, _ = pad_units(reference)
            kl_units = kl_estimate(logprobs, ref, algo.kl_estimator)
            kl = (kl_units * weighted_mask).sum() / denominator
            loss = loss + algo.kl_coef * kl
            stats["loss/kl"] = kl.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), algo.max_grad_norm)
        self.optimizer.step()
        stats["loss/total"] = loss.item()
        stats["loss/grad_norm"] = float(grad_norm)
        stats["loss/clip_fraction"] = weighted_token_mean(extra["clipped"], mask).item()
        stats["loss/approx_kl_old"] = weighted_token_mean(old - logprobs.detach(), mask).item()
        return stats

    # -- evaluation and checkpoints ------------------------------------------------------------
    def evaluate(self, episodes: int | None = None) -> EvalReport:
        cfg = self.config
        episodes = episodes or cfg.train.eval_episodes
        tasks = cfg.env.eval_tasks
        task_ids = list(range(tasks.start, min(tasks.stop, tasks.start + episodes)))
        torch.manual_seed(cfg.train.seed + 17)
        agent = Agent(self.agent.backend, self.tokenizer, self.agent_config, seed=cfg.train.seed)
        self.model.eval()
        report, _ = evaluate_agent(agent, self.pool, task_ids, seed=cfg.train.seed)
        return report

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

    def close(self) -> None:
        self.pool.close()
        self.metrics.close()


def step_group_metrics(trajectories: list[Trajectory]) -> dict[str, float]:
    """How many turns share an anchor state (GiGPO's step groups), as a distribution summary."""
    histogram = step_group_size_histogram(trajectories)
    groups = sum(histogram.values())
    if not groups:
        return {}
    turns = sum(size * count for size, count in histogram.items())
    return {
        "step_groups/count": float(groups),
        "step_groups/mean_size": turns / groups,
        "step_groups/max_size": float(max(histogram)),
        "step_groups/singleton_fraction": histogram.get(1, 0) / groups,
    }


def rollout_metrics(trajectories: list[Trajectory]) -> dict[str, float]:
    turns = [turn for t in trajectories for turn in t.turns]
    return {
        "rollout/success_rate": float(np.mean([t.won for t in trajectories])),
        "rollout/mean_return": float(np.mean([t.return_ for t in trajectories])),
        "rollout/mean_length": float(np.mean([t.length for t in trajectories])),
        "rollout/invalid_action_rate": float(np.mean([not u.valid for u in turns]))
        if turns
        else 0.0,
        "rollout/episodes": float(len(trajectories)),
    }
