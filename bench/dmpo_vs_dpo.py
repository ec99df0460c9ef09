"""DMPO against DPO on the same preference pairs, the same budget and the same start, per seed.

For each seed s (``--seeds``, default 3) on ``turngym/Household-v0``, ``choose`` mode, T = 1:

1. Build the tiny offline Qwen2 with seed s; warm-start it with brief behaviour cloning
   (``--sft-tasks`` expert episodes, ``--sft-epochs``) so that its own episodes hold both wins
   and losses.
2. Collect one expert trajectory per training task (``--tasks`` tasks, a distinct block of ids
   per seed) and ``--group-size`` sampled trajectories per task from the warm-started policy.
3. Build pairs: expert vs each failed sampled trajectory of its task, plus best vs worst of each
   group (tied groups dropped).
4. From that start, with the start as the frozen reference, train DMPO (beta 0.1, gamma 0.7)
   and DPO (beta 0.1) on those same pairs for the same epochs, batch size and learning rate
   (per-step shape: each turn's choice scored on its own prompt).
5. Evaluate success on held-out tasks (ids 1_000_000+), one sampled episode each, with the same
   sampling seed for the start and both methods; print per-seed and mean success and the ratio
   DMPO / DPO.

    OMP_NUM_THREADS=1 python bench/dmpo_vs_dpo.py                  # 3 seeds
    OMP_NUM_THREADS=1 python bench/dmpo_vs_dpo.py --seeds 1 --sft-tasks 0
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.tiny import build_tiny_model
from turngym.algos.behaviour_cloning import sft
from turngym.algos.demonstrations import expert_trajectories
from turngym.algos.engine import TorchEngine
from turngym.algos.evaluate import evaluate_policy
from turngym.algos.pairs import expert_pairs, group_pairs
from turngym.algos.preference import DMPOConfig, DPOConfig
from turngym.algos.preference_training import train_preference

ENV_ID = "turngym/Household-v0"
EXPERTS = EnvPool(ENV_ID, expert=True)  # the environment's expert, in this process
EVAL_START = 1_000_000
LOSSES = {"dmpo": DMPOConfig(), "dpo": DPOConfig()}


def success(model, tokenizer, config: AgentConfig, pool: EnvPool, episodes: int, seed: int):
    task_ids = list(range(EVAL_START, EVAL_START + episodes))
    backend = make_backend(model=model, tokenizer=tokenizer)
    return evaluate_policy(backend, tokenizer, config, pool, task_ids, seed).success_rate


def run_seed(args: argparse.Namespace, seed: int, pool: EnvPool, clock: float) -> dict:
    """Steps 1-5 of the module docstring for one seed; returns its row of the table."""
    output = Path(args.output_dir) / f"seed_{seed}"
    base = output / "base_model"
    if not (base / "config.json").exists():
        build_tiny_model(base, env_ids=[ENV_ID], seed=seed)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(base).eval()
    config = AgentConfig(mode="choose", temperature=1.0)
    agent = Agent(make_backend(model=model, tokenizer=tokenizer), tokenizer, config, seed=seed)
    # warm-start tasks and pair tasks: disjoint training ids per seed, below the held-out ids
    if args.sft_tasks:
        first = 500_000 + seed * args.sft_tasks
        demos = expert_trajectories(agent, EXPERTS, list(range(first, first + args.sft_tasks)))
        sft(
            TorchEngine(model, 1e-3),
            tokenizer,
            demos,
            config,
            epochs=args.sft_epochs,
            batch_size=32,
            seed=seed,
        )
    before = success(model, tokenizer, config, pool, args.eval_episodes, seed)
    task_ids = list(range(seed * args.tasks, (seed + 1) * args.tasks))
    experts = expert_trajectories(agent, EXPERTS, task_ids)
    sampled = run_episodes(agent, pool, group_episodes(task_ids, args.group_size, seed))
    pairs = expert_pairs(experts, sampled) + group_pairs(sampled)
    row = {"seed": seed, "pairs": len(pairs), "before": before,
           "sampled_won": sum(t.won for t in sampled) / len(sampled)}  # fmt: skip
    for name, loss_config in LOSSES.items():
        policy = copy.deepcopy(model)
        metrics = train_preference(
            TorchEngine(policy, args.lr), tokenizer, pairs, config, loss=name,
            loss_config=loss_config,
            reference=copy.deepcopy(model), shape=args.shape, epochs=args.epochs,
            batch_size=args.batch_size, seed=seed,
        )  # fmt: skip
        row["steps"] = int(metrics[f"{name}/steps"])
        row[name] = success(policy, tokenizer, config, pool, args.eval_episodes, seed)
    print(
        f"seed {seed}: {len(pairs)} pairs ({sum(p.source == 'expert' for p in pairs)} expert), "
        f"sampled won {row['sampled_won']:.1%}, start {before:.1%}, DMPO {row['dmpo']:.1%}, "
        f"DPO {row['dpo']:.1%} | {time.perf_counter() - clock:.0f}s",
        flush=True,
    )
    return row


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--sft-tasks", type=int, default=40, help="0: no warm start")
    parser.add_argument("--sft-epochs", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=128, help="training tasks for pairs")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--shape", choices=["step", "conversation"], default="step")
    parser.add_argument("--eval-episodes", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output-dir", default="runs/dmpo_vs_dpo")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.perf_counter()
    with EnvPool(ENV_ID, num_slots=64) as pool:  # rollouts run under no_grad already
        rows = [run_seed(args, seed, pool, clock) for seed in range(args.seeds)]

    print(f"\nheld-out success, {args.eval_episodes} episodes (tasks {EVAL_START}+), choose mode, "
          f"T=1; {args.tasks} pair tasks x {args.group_size} samples, {args.sft_tasks} warm-start "
          f"tasks, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr:g}")  # fmt: skip
    print(f"{'seed':>5} {'pairs':>6} {'steps':>6} {'start':>7} {'DMPO':>7} {'DPO':>7} {'ratio':>6}")
    for row in rows:
        ratio = _ratio(row["dmpo"], row["dpo"])
        print(f"{row['seed']:>5} {row['pairs']:>6} {row['steps']:>6} {row['before']:>7.1%} "
              f"{row['dmpo']:>7.1%} {row['dpo']:>7.1%} {ratio:>6.2f}")  # fmt: skip
    means = {key: statistics.fmean(row[key] for row in rows) for key in ("before", "dmpo", "dpo")}
    spread = {key: statistics.stdev(row[key] for row in rows) if len(rows) > 1 else 0.0
              for key in means}  # fmt: skip
    print(f"{'mean':>5} {'':>6} {'':>6} {means['before']:>7.1%} {means['dmpo']:>7.1%} "
          f"{means['dpo']:>7.1%} {_ratio(means['dmpo'], means['dpo']):>6.2f}")  # fmt: skip
    print(f"{'sd':>5} {'':>6} {'':>6} {spread['before']:>7.1%} {spread['dmpo']:>7.1%} "
          f"{spread['dpo']:>7.1%}")  # fmt: skip
    wins = sum(row["dmpo"] > row["dpo"] for row in rows)
    print(
        f"DMPO above DPO in {wins} of {len(rows)} seeds; "
        f"total {time.perf_counter() - clock:.0f}s, torch threads {torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main()
