"""DMPO against DPO on the same preference pairs, the same budget and the same start.

Steps (``turngym/Household-v0``, the tiny offline Qwen2, ``choose`` mode, temperature 1):

1. Build the tiny model; optionally warm-start it with brief behaviour cloning (``--sft-tasks``
   expert episodes, ``--sft-epochs``) so that its own rollouts hold both wins and losses.
2. Collect one expert trajectory per training task (``HouseholdEnv.expert_action``) and
   ``--group-size`` sampled trajectories per task from the (warm-started) policy.
3. Build pairs: expert vs each failed sampled trajectory of its task, plus best vs worst of each
   group (tied groups dropped).
4. From the same start, with the start as the frozen reference, train DMPO (beta 0.1, gamma 0.7)
   and DPO (beta 0.1) for the same epochs, batch size and learning rate (per-step shape: each
   turn's choice scored on its own prompt).
5. Evaluate success on held-out tasks (ids 1_000_000+), one sampled episode each, before and
   after, and print a table.

    OMP_NUM_THREADS=1 python bench/dmpo_vs_dpo.py                 # ~3-7 min on one thread
    OMP_NUM_THREADS=1 python bench/dmpo_vs_dpo.py --sft-tasks 0   # from the untrained model
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import TransformersBackend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.tiny import build_tiny_model
from turngym.algos.evaluate import evaluate_agent
from turngym.algos.offline import expert_trajectories, sft, train_preference
from turngym.algos.pairs import expert_pairs, group_pairs
from turngym.algos.preference import DMPOConfig, DPOConfig

ENV_ID = "turngym/Household-v0"
EVAL_START = 1_000_000


def success(model, tokenizer, config: AgentConfig, pool: EnvPool, episodes: int) -> float:
    torch.manual_seed(17)
    agent = Agent(TransformersBackend(model, tokenizer), tokenizer, config, seed=17)
    with torch.no_grad():
        report, _ = evaluate_agent(agent, pool, list(range(EVAL_START, EVAL_START + episodes)))
    return report.success_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/dmpo_vs_dpo")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    output = Path(args.output_dir)
    base = output / "base_model"
    if not (base / "config.json").exists():
        build_tiny_model(base, env_ids=[ENV_ID], seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(base).eval()
    config = AgentConfig(mode="choose", temperature=1.0)
    agent = Agent(TransformersBackend(model, tokenizer), tokenizer, config, seed=args.seed)
    pool = EnvPool(ENV_ID, num_slots=64)

    untrained = success(model, tokenizer, config, pool, args.eval_episodes)
    # warm-start tasks and pair tasks are disjoint training ids, both below the held-out ids
    if args.sft_tasks:
        demos = expert_trajectories(agent, ENV_ID, list(range(10_000, 10_000 + args.sft_tasks)))
        sft(model, tokenizer, demos, config, epochs=args.sft_epochs, batch_size=32)
    before = success(model, tokenizer, config, pool, args.eval_episodes)

    task_ids = list(range(args.tasks))
    experts = expert_trajectories(agent, ENV_ID, task_ids)
    with torch.no_grad():
        sampled = run_episodes(agent, pool, group_episodes(task_ids, args.group_size, args.seed))
    pairs = expert_pairs(experts, sampled) + group_pairs(sampled)
    sampled_success = sum(t.won for t in sampled) / len(sampled)
    print(
        f"untrained {untrained:.1%} | warm start ({args.sft_tasks} expert tasks) {before:.1%} | "
        f"sampled {len(sampled)} episodes, {sampled_success:.1%} won | {len(pairs)} pairs "
        f"({sum(p.source == 'expert' for p in pairs)} expert, "
        f"{sum(p.source == 'group' for p in pairs)} group) | {time.perf_counter() - start:.0f}s"
    )

    rows = []
    for name, loss_config in (("dmpo", DMPOConfig()), ("dpo", DPOConfig())):
        policy = copy.deepcopy(model)
        metrics = train_preference(
            policy, tokenizer, pairs, config, loss=name, loss_config=loss_config,
            reference=copy.deepcopy(model), shape=args.shape, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
            output_dir=output / name,
        )  # fmt: skip
        after = success(policy, tokenizer, config, pool, args.eval_episodes)
        rows.append((name, len(pairs), int(metrics[f"{name}/steps"]), before, after, metrics))
        print(f"{name}: {metrics} | {time.perf_counter() - start:.0f}s")
    pool.close()

    print(
        f"\nheld-out success, {args.eval_episodes} episodes (tasks {EVAL_START}+), choose mode, T=1"
    )
    print(f"{'method':<7} {'pairs':>6} {'steps':>6} {'before':>8} {'after':>8} {'acc':>6}")
    for name, count, steps, was, now, metrics in rows:
        accuracy = metrics[f"{name}/reward_accuracy_last"]
        print(f"{name:<7} {count:>6} {steps:>6} {was:>8.1%} {now:>8.1%} {accuracy:>6.2f}")
    print(f"total {time.perf_counter() - start:.0f}s, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
