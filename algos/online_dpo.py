"""Online DPO from AI feedback (OAIF; Guo et al., 2024, "Direct Language Model Alignment from
Online AI Feedback"), for multi-turn trajectories.

Each iteration t:

1. pick N training tasks x and roll out two trajectories per task from the current policy,
   y^1, y^2 ~ pi_theta_t(. | x) (one group of size 2: same initial state);
2. a pairwise judge (:mod:`turngym.rewards`: an LLM judge or the rule judge) picks the winner,
   (y_w, y_l) = (y^1, y^2) or (y^2, y^1); ties are dropped;
3. one gradient step on the mean over the pairs of a registered preference loss (by name), by
   default DPO against the fixed reference pi_ref = pi_theta_0 (the initial policy):

       L = -log sigmoid(beta * [(log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))])

   with log pi(y) = sum_j log pi(y_j | prompt_j) over the turns j (``shape="step"``, see
   :mod:`turngym.algos.pairs`); DMPO, IPO, SimPO, ORPO, TDPO and KTO (reading the pairs
   unpaired) plug in the same way: the step is
   :func:`turngym.algos.preference_training.train_preference` on one full batch, with the
   optimizer kept across iterations.

The pairs are on-policy at every step, which is what makes it online; the reference never moves.
The judge's agreement with the environment's ``won`` is logged where the two sides differ in it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import InferenceBackend, make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.trajectory import Trajectory
from turngym.rewards.judge import PairwiseJudge, Verdict

from .engine import TrainEngine
from .pairs import PreferencePair
from .preference_training import train_preference
from .registry import get_preference_loss


@dataclass
class OnlineDPOConfig:
    """Options of :class:`OnlineDPO`.

    Attributes:
        tasks_per_iteration: N, tasks per iteration; each gives two trajectories, at most one pair.
        loss: a registered preference loss (``dpo``, ``dmpo``, ``ipo``, ``tdpo1``, ``kto``, ...).
        loss_config: that loss's options model (e.g. ``DPOConfig(beta=0.1)``); None: defaults.
        shape: ``step`` (each turn scored on its own prompt) or ``conversation``.
        updates_per_iteration: gradient steps on each iteration's pairs (1 in OAIF).
        seed: task choice, action sampling and rollout seeds derive from (seed, iteration).
        wpo_alignment: WPO's pair weighting (:mod:`turngym.algos.wpo`); None: unweighted.
    """

    tasks_per_iteration: int = 16
    loss: str = "dpo"
    loss_config: BaseModel | None = None
    shape: str = "step"
    updates_per_iteration: int = 1
    seed: int = 0
    wpo_alignment: str | None = None


def judged_pairs(
    trajectories: Sequence[Trajectory], verdicts: Sequence[Verdict]
) -> list[PreferencePair]:
    """(winner, loser) of each decisive verdict on consecutive (A, B) = (y[2k], y[2k+1])."""
    pairs = []
    for k, verdict in enumerate(verdicts):
        a, b = trajectories[2 * k], trajectories[2 * k + 1]
        if verdict.winner == "A":
            pairs.append(PreferencePair(a, b, "judge"))
        elif verdict.winner == "B":
            pairs.append(PreferencePair(b, a, "judge"))
    return pairs


def agreement_with_won(pairs: Sequence[PreferencePair]) -> tuple[float, int]:
    """Fraction of pairs whose sides differ in ``won`` where the chosen side won (NaN if none),
    and the number of such pairs."""
    decided = [p for p in pairs if p.chosen.won != p.rejected.won]
    if not decided:
        return math.nan, 0
    return sum(p.chosen.won for p in decided) / len(decided), len(decided)


@dataclass
class Collected:
    """One iteration's data: 2N trajectories (A, B of task k at 2k, 2k + 1), N verdicts, the
    decisive pairs, and the seconds spent rolling out and judging."""

    trajectories: list[Trajectory]
    verdicts: list[Verdict]
    pairs: list[PreferencePair]
    rollout_s: float
    judge_s: float


class OnlineDPO:
    """The OAIF loop on ``engine.model`` (trained in place); see the module docstring.

    Args:
        engine: the policy (a ``transformers`` causal LM) with its optimizer, kept across
            iterations (:class:`~turngym.algos.engine.TorchEngine`).
        tokenizer: the policy's tokenizer.
        judge: any :class:`~turngym.rewards.judge.PairwiseJudge`.
        pool: environments to roll out in.
        train_tasks: the task ids to draw from (e.g. ``range(0, 100_000)``).
        agent_config: how the policy acts (mode, temperature, history).
        config: :class:`OnlineDPOConfig`.
        reference: pi_ref; default ``engine.frozen_copy()``, the policy as it is now.
        backend: the rollouts' inference backend (default: one on ``engine.model``); it gets the
            new weights after every update.
    """

    def __init__(
        self,
        engine: TrainEngine,
        tokenizer: Any,
        judge: PairwiseJudge,
        pool: EnvPool,
        train_tasks: Sequence[Any],
        agent_config: AgentConfig,
        config: OnlineDPOConfig | None = None,
        reference: torch.nn.Module | None = None,
        backend: InferenceBackend | None = None,
    ):
        self.config = config or OnlineDPOConfig()
        get_preference_loss(self.config.loss)  # an unknown name fails here, not mid-run
        self.engine, self.model = engine, engine.model
        self.tokenizer, self.judge, self.pool = tokenizer, judge, pool
        self.train_tasks = list(train_tasks)
        if len(self.train_tasks) < self.config.tasks_per_iteration:
            raise ValueError(
                f"train_tasks holds {len(self.train_tasks)} ids, fewer than "
                f"tasks_per_iteration={self.config.tasks_per_iteration}; give more tasks"
            )
        self.agent_config = agent_config
        self.backend = backend or make_backend(model=self.model, tokenizer=tokenizer)
        self.agent = Agent(self.backend, tokenizer, agent_config)
        self.reference = self.engine.frozen_copy() if reference is None else reference
        self.reference.eval().requires_grad_(False)
        self.iteration = 0
        self.last: Collected | None = None  # the latest iteration's data, for inspection

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, self.iteration, stream])

    def collect(self) -> Collected:
        """Two rollouts of each of N fresh tasks, the judge's verdicts, and the decisive pairs."""
        start = time.perf_counter()
        count = self.config.tasks_per_iteration
        picks = self._rng(0).choice(len(self.train_tasks), count, replace=False)
        task_ids = [self.train_tasks[int(i)] for i in picks]
        self.agent.rng = self._rng(1)
        self.model.eval()
        with torch.no_grad():
            trajectories = run_episodes(
                self.agent, self.pool, group_episodes(task_ids, 2, seed=self.iteration)
            )
        rolled_out = time.perf_counter()
        verdicts = self.judge.compare(
            [(trajectories[2 * k], trajectories[2 * k + 1]) for k in range(count)]
        )
        return Collected(
            trajectories,
            verdicts,
            judged_pairs(trajectories, verdicts),
            rollout_s=rolled_out - start,
            judge_s=time.perf_counter() - rolled_out,
        )

    def update(self, pairs: list[PreferencePair]) -> dict[str, float]:
        """``updates_per_iteration`` full-batch steps on mean_i L(y_w^i, y_l^i) through
        :func:`~turngym.algos.preference_training.train_preference` (one engine, its optimizer kept
        across iterations), then the weights go to the rollout backend; metrics of the last
        step (measured before it was applied)."""
        cfg = self.config
        summary = train_preference(
            self.engine,
            self.tokenizer,
            pairs,
            self.agent_config,
            loss=cfg.loss,
            loss_config=cfg.loss_config,
            reference=self.reference,
            shape=cfg.shape,
            epochs=cfg.updates_per_iteration,
            batch_size=len(pairs),
            seed=cfg.seed,
            wpo_alignment=cfg.wpo_alignment,
        )
        self.backend.load_weights(self.engine.state_dict_for_inference())
        return {
            f"{cfg.loss}/loss": summary[f"{cfg.loss}/loss_last"],
            f"{cfg.loss}/reward_margin": summary[f"{cfg.loss}/reward_margin_last"],
            f"{cfg.loss}/reward_accuracy": summary[f"{cfg.loss}/reward_accuracy_last"],
        }

    def step(self) -> dict[str, float]:
        """One iteration: collect, judge, update. Returns its metrics."""
        collected = self.last = self.collect()
        trajectories, verdicts, pairs = collected.trajectories, collected.verdicts, collected.pairs
        start = time.perf_counter()
        agreement, decided = agreement_with_won(pairs)
        biases = [v.position_bias for v in verdicts if v.position_bias is not None]
        metrics: dict[str, float] = {
            "iteration": float(self.iteration),
            "rollout/success_rate": float(np.mean([t.won for t in trajectories])),
            "judge/pairs": float(len(pairs)),
            "judge/ties": float(len(verdicts) - len(pairs)),
            "judge/agreement_with_won": agreement,
            "judge/pairs_differing_in_won": float(decided),
            "judge/position_bias": float(np.mean(biases)) if biases else math.nan,
        }
        if pairs:
            metrics.update(self.update(pairs))
        else:
            metrics.update({f"{self.config.loss}/loss": math.nan})
        metrics["time/rollout_s"] = collected.rollout_s
        metrics["time/judge_s"] = collected.judge_s
        metrics["time/train_s"] = time.perf_counter() - start
        self.iteration += 1
        return metrics

    def train(self, iterations: int) -> list[dict[str, float]]:
        """``iterations`` calls of :meth:`step`; the metrics of each."""
        return [self.step() for _ in range(iterations)]
