"""SPPO (Wu et al., 2024, "Self-Play Preference Optimization for Language Model Alignment"),
for multi-turn trajectories.

Iteration t, with pi_t the policy as the iteration starts:

1. pick N training tasks x and sample K trajectories of each from pi_t, y_1..y_K ~ pi_t(. | x)
   (one group: the same initial state);
2. estimate each one's win rate against pi_t with a pairwise judge (a preference model):

       P_hat(y_k > pi_t | x) = 1/K sum_{k'} P(y_k > y_k' | x)

   (Algorithm 1's estimate: the mean over all K samples, y_k itself counting 1/2;
   :func:`~turngym.rewards.self_play.group_win_rates` with ``include_self``);
3. regress the log-ratio to pi_t onto the centred win rate, the paper's squared loss:

       L(theta) = E_(x, y_k) [ (log pi_theta(y_k|x) / pi_t(y_k|x) - eta (P_hat(y_k) - 1/2))^2 ]

   with P_hat(y_k) = P_hat(y_k > pi_t | x)

   for ``epochs`` passes of mini-batches; pi_{t+1} = pi_theta.

The exact solution of each step is pi_{t+1}(y|x) proportional to
pi_t(y|x) exp(eta P(y > pi_t | x)) (multiplicative weights against the policy itself), which
converges to the von Neumann winner of the preference; the 1/2 stands in for the
log-partition (the paper's approximation eta/2 of log Z).

Multi-turn: log pi(y | x) sums the log-probabilities of every unit of every assistant turn of
the trajectory, each turn scored on the prompt the policy saw (``shape: step``: in ``choose``
mode one unit per turn, the choice; in ``generate`` mode the response tokens) or in the whole
conversation (``shape: conversation``). The environment's replies are not the policy's, so
they add nothing to the ratio. The judge compares whole trajectories.

TRL's ``sppo_hard`` is the pairwise, hard-label approximation of this loss, (a - eta/2)^2 +
(b + eta/2)^2 for the log-ratios a, b of a winner and a loser (eta = 1/beta); here every
sampled trajectory is regressed on its own estimated win rate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import InferenceBackend, make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.trajectory import Trajectory
from turngym.rewards.judge import PairwiseJudge
from turngym.rewards.self_play import group_win_rates

from .engine import TrainEngine
from .preference_batches import trajectory_logprobs


def sppo_loss(logratio: torch.Tensor, win_rate: torch.Tensor, eta: float) -> torch.Tensor:
    """Per trajectory, (log pi_theta(y|x) / pi_t(y|x) - eta (P_hat(y > pi_t | x) - 1/2))^2."""
    return (logratio - eta * (win_rate - 0.5)) ** 2


@dataclass
class SPPOConfig:
    """Options of :class:`SPPO`.

    Attributes:
        tasks_per_iteration: N, prompts (tasks) per iteration.
        samples_per_task: K, trajectories per task; every pair of them is judged.
        eta: eta, the step size of the multiplicative update (the regression target's scale).
        epochs: passes over each iteration's trajectories.
        batch_size: trajectories per optimizer step.
        preference: ``hard`` (1, 0, 1/2 per verdict) or ``soft`` (sigmoid of the judge's margin).
        shape: ``step`` (each turn on its own prompt) or ``conversation``.
        seed: task choice, sampling and mini-batch order derive from (seed, iteration).
    """

    tasks_per_iteration: int = 16
    samples_per_task: int = 4
    eta: float = 1.0
    epochs: int = 1
    batch_size: int = 32
    preference: str = "hard"
    shape: str = "step"
    seed: int = 0


class SPPO:
    """The SPPO loop on ``engine.model`` (trained in place); see the module docstring.

    Args:
        engine: the policy with its optimizer (:class:`~turngym.algos.engine.TorchEngine`).
        tokenizer: the policy's tokenizer.
        judge: any :class:`~turngym.rewards.judge.PairwiseJudge` (the preference model).
        pool: environments to roll out in.
        train_tasks: the task ids to draw from.
        agent_config: how the policy acts.
        config: :class:`SPPOConfig`.
        backend: the rollouts' inference backend (default: one on ``engine.model``); it gets the
            new weights after every iteration.
    """

    def __init__(
        self,
        engine: TrainEngine,
        tokenizer: Any,
        judge: PairwiseJudge,
        pool: EnvPool,
        train_tasks: Sequence[Any],
        agent_config: AgentConfig,
        config: SPPOConfig | None = None,
        backend: InferenceBackend | None = None,
    ):
        self.config = config or SPPOConfig()
        if self.config.samples_per_task < 2:
            raise ValueError("SPPO compares samples of a task: samples_per_task must be >= 2")
        self.engine, self.model = engine, engine.model
        self.tokenizer, self.judge, self.pool = tokenizer, judge, pool
        self.train_tasks = list(train_tasks)
        if len(self.train_tasks) < self.config.tasks_per_iteration:
            raise ValueError(f"train_tasks holds {len(self.train_tasks)} ids, fewer than "
                             f"tasks_per_iteration={self.config.tasks_per_iteration}")  # fmt: skip
        self.agent_config = agent_config
        self.backend = backend or make_backend(model=self.model, tokenizer=tokenizer)
        self.agent = Agent(self.backend, tokenizer, agent_config)
        self.iteration = 0

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, self.iteration, stream])

    def collect(self) -> tuple[list[Trajectory], list[float]]:
        """K rollouts of each of N fresh tasks from pi_t, and each one's P_hat(y > pi_t | x)."""
        cfg = self.config
        picks = self._rng(0).choice(len(self.train_tasks), cfg.tasks_per_iteration, replace=False)
        task_ids = [self.train_tasks[int(i)] for i in picks]
        self.agent.rng = self._rng(1)
        self.model.eval()
        with torch.no_grad():
            trajectories = run_episodes(
                self.agent, self.pool, group_episodes(task_ids, cfg.samples_per_task,
                                                      seed=self.iteration)
            )  # fmt: skip
        trajectories = [t for t in trajectories if t.error is None]
        rates = group_win_rates(trajectories, self.judge, cfg.preference, include_self=True)
        return trajectories, rates

    def sequence_logps(self, trajectories: list[Trajectory]) -> torch.Tensor:
        """log pi(y | x) of each trajectory under the current model: its units summed."""
        values, mask, _ = trajectory_logprobs(
            self.model, self.tokenizer, trajectories, self.agent_config, self.config.shape
        )
        return (values * mask).sum(dim=-1)

    def update(self, trajectories: list[Trajectory], rates: list[float]) -> dict[str, float]:
        """``epochs`` passes of mini-batched steps on the squared loss; pi_t's log-probs are
        taken once, before the first step."""
        cfg = self.config
        with torch.no_grad():
            reference = self.sequence_logps(trajectories)  # log pi_t(y | x)
        targets = torch.tensor(rates, dtype=torch.float32)
        generator = torch.Generator().manual_seed(int(self._rng(2).integers(2**31)))
        losses = []
        self.model.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(trajectories), generator=generator).tolist()
            for begin in range(0, len(order), cfg.batch_size):
                index = order[begin : begin + cfg.batch_size]
                logratio = self.sequence_logps([trajectories[i] for i in index]) - reference[index]
                loss = sppo_loss(logratio, targets[index], cfg.eta).mean()
                self.engine.backward_and_step(loss)
                losses.append(loss.item())
        self.model.eval()
        self.backend.load_weights(self.engine.state_dict_for_inference())
        with torch.no_grad():
            logratio = self.sequence_logps(trajectories) - reference
        fit = torch.corrcoef(torch.stack([logratio, targets]))[0, 1].item()
        return {
            "sppo/loss_first": losses[0],
            "sppo/loss_last": losses[-1],
            "sppo/logratio_win_rate_corr": fit,  # how well log pi_t+1 / pi_t follows P_hat
        }

    def step(self) -> dict[str, float]:
        """One iteration: sample, judge, regress. Returns its metrics."""
        start = time.perf_counter()
        trajectories, rates = self.collect()
        judged = time.perf_counter()
        scored = list(zip(trajectories, rates, strict=True))
        metrics = {
            "rollout/success_rate": float(np.mean([t.won for t in trajectories])),
            "sppo/trajectories": float(len(trajectories)),
            "sppo/win_rate_of_won": _mean([r for t, r in scored if t.won]),
            "sppo/win_rate_of_lost": _mean([r for t, r in scored if not t.won]),
        }
        if trajectories:
            metrics.update(self.update(trajectories, rates))
        metrics["time/rollout_and_judge_s"] = judged - start
        metrics["time/train_s"] = time.perf_counter() - judged
        self.iteration += 1
        return metrics


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
