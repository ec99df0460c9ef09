"""Online DPO with AI feedback (OAIF) on ``turngym/Household-v0``: held-out success before and
after, with the rule judge (or, as a control, the untrained tiny model as an LLM judge).

Steps (the tiny offline Qwen2, ``choose`` mode, temperature 1, as in ``configs/household.yaml``):

1. Build the tiny model (random weights; no warm start).
2. Evaluate success on ``--eval-episodes`` held-out tasks (ids 1_000_000+), one sampled episode
   each.
3. ``--iterations`` of :class:`~turngym.algos.online_dpo.OnlineDPO`: ``--tasks`` training tasks
   x 2 rollouts from the current policy, the judge picks the winner of each pair (ties dropped),
   ``--updates`` AdamW steps of ``--loss`` (beta ``--beta``) against the initial policy.
4. Evaluate again every ``--eval-every`` iterations and at the end; print a table.

    OMP_NUM_THREADS=1 python bench/online_dpo.py                 # rule judge, ~7 min on one thread
    OMP_NUM_THREADS=1 python bench/online_dpo.py --judge llm     # the untrained model judges
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.tiny import build_tiny_model
from turngym.algos.engine import TorchEngine
from turngym.algos.evaluate import evaluate_agent
from turngym.algos.online_dpo import OnlineDPO, OnlineDPOConfig
from turngym.algos.preference import DMPOConfig, DPOConfig
from turngym.rewards import LLMJudge, RuleJudge

ENV_ID = "turngym/Household-v0"
EVAL_START = 1_000_000


def success(model, tokenizer, config: AgentConfig, pool: EnvPool, episodes: int) -> float:
    torch.manual_seed(17)
    agent = Agent(make_backend(model=model, tokenizer=tokenizer), tokenizer, config, seed=17)
    with torch.no_grad():
        report, _ = evaluate_agent(agent, pool, list(range(EVAL_START, EVAL_START + episodes)))
    return report.success_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", choices=["rule", "llm"], default="rule")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=64, help="tasks (pairs) per iteration")
    parser.add_argument("--loss", choices=["dpo", "dmpo"], default="dpo")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--updates", type=int, default=1, help="gradient steps per iteration")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/online_dpo")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    base = Path(args.output_dir) / "base_model"
    if not (base / "config.json").exists():
        build_tiny_model(base, env_ids=[ENV_ID], seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(base).eval()
    agent_config = AgentConfig(mode="choose", temperature=1.0)
    judge = RuleJudge() if args.judge == "rule" else LLMJudge.from_pretrained(base)
    loss_config = DPOConfig(beta=args.beta) if args.loss == "dpo" else DMPOConfig(beta=args.beta)
    config = OnlineDPOConfig(
        tasks_per_iteration=args.tasks, loss=args.loss, loss_config=loss_config,
        updates_per_iteration=args.updates, seed=args.seed,
    )  # fmt: skip
    pool = EnvPool(ENV_ID, num_slots=64)
    algo = OnlineDPO(
        TorchEngine(model, args.lr), tokenizer, judge, pool, range(100_000), agent_config, config
    )

    rows = [(0, success(model, tokenizer, agent_config, pool, args.eval_episodes), {})]
    print(f"iteration 0: held-out success {rows[0][1]:.1%}")
    window: list[dict[str, float]] = []
    for iteration in range(1, args.iterations + 1):
        window.append(algo.step())
        if iteration % args.eval_every == 0 or iteration == args.iterations:
            rate = success(model, tokenizer, agent_config, pool, args.eval_episodes)
            rows.append((iteration, rate, summarize(window, args.loss)))
            print(f"iteration {iteration}: held-out success {rate:.1%} | {rows[-1][2]} | "
                  f"{time.perf_counter() - start:.0f}s")  # fmt: skip
            window = []
    pool.close()

    print(
        f"\nOnline DPO ({args.loss}, beta {args.beta}, lr {args.lr}, {args.updates} step(s) per "
        f"iteration), {args.judge} judge, {args.tasks} tasks x 2 rollouts per iteration; "
        f"held-out success over {args.eval_episodes} episodes (tasks {EVAL_START}+), choose, T=1"
    )
    print(f"{'iter':>5} {'success':>8} {'rollout won':>12} {'pairs/it':>9} {'ties/it':>8} "
          f"{'agree(won)':>11} {'margin':>8}")  # fmt: skip
    for iteration, rate, m in rows:
        if not m:
            print(f"{iteration:>5} {rate:>8.1%}")
            continue
        print(f"{iteration:>5} {rate:>8.1%} {m['rollout_won']:>12.1%} {m['pairs']:>9.1f} "
              f"{m['ties']:>8.1f} {m['agreement']:>11.2f} {m['margin']:>8.3f}")  # fmt: skip
    print(f"total {time.perf_counter() - start:.0f}s, torch threads {torch.get_num_threads()}")


def summarize(window: list[dict[str, float]], loss: str) -> dict[str, float]:
    """Means over the iterations since the last evaluation (agreement: pooled over pairs)."""
    decided = sum(m["judge/pairs_differing_in_won"] for m in window)
    agreeing = sum(
        m["judge/agreement_with_won"] * m["judge/pairs_differing_in_won"]
        for m in window
        if m["judge/pairs_differing_in_won"]
    )
    margins = [m[f"{loss}/reward_margin"] for m in window if f"{loss}/reward_margin" in m]
    return {
        "rollout_won": float(np.mean([m["rollout/success_rate"] for m in window])),
        "pairs": float(np.mean([m["judge/pairs"] for m in window])),
        "ties": float(np.mean([m["judge/ties"] for m in window])),
        "agreement": agreeing / decided if decided else math.nan,
        "margin": float(np.mean(margins)) if margins else math.nan,
    }


if __name__ == "__main__":
    main()
