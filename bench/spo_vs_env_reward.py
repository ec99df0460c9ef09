"""SPO's self-play win-rate reward against the environment's own reward, same estimator, same
budget, same start, per seed.

For each seed s (``--seeds``, default 2) on ``turngym/Household-v0`` (tiny model from random
weights, ``choose`` mode): ``configs/household.yaml`` (GRPO on the environment's 0/1 reward)
and ``configs/spo.yaml`` (GRPO on each episode's win rate in its group under the rule judge)
train for ``--iterations`` iterations with seed s, and each is evaluated on ``--eval-episodes``
held-out rooms with the same sampling seed. Prints success per seed and method, and the ratio
SPO / environment reward.

    OMP_NUM_THREADS=1 python bench/spo_vs_env_reward.py
    OMP_NUM_THREADS=1 python bench/spo_vs_env_reward.py --seeds 1 --iterations 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from turngym.algos.trainer import Trainer
from turngym.config.run import load_config

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"env reward": "configs/household.yaml", "SPO": "configs/spo.yaml"}


def train(config_path: str, seed: int, args: argparse.Namespace, output: Path) -> float:
    """Held-out success after ``args.iterations`` iterations of the config with ``seed``."""
    config = load_config(ROOT / config_path, [
        f"train.iterations={args.iterations}", "train.eval_every=0", "train.checkpoint_every=0",
        f"train.eval_episodes={args.eval_episodes}", f"train.seed={seed}", "train.progress=false",
        f"train.output_dir={output}", "train.torch_threads=1",
    ])  # fmt: skip
    return Trainer(config).train()["after"]["success_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--eval-episodes", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            row = {name: train(path, seed, args, Path(folder, f"{seed}_{name[:3]}"))
                   for name, path in METHODS.items()}  # fmt: skip
            rows.append(row)
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.1%}" for k, v in row.items()), flush=True)
    print(f"\nHousehold-v0, GRPO, {args.iterations} iterations of 8 tasks x 8 rollouts, "
          f"{args.eval_episodes} held-out rooms")  # fmt: skip
    print(f"{'seed':>5} {'env reward':>11} {'SPO':>7} {'ratio':>7}")
    for seed, row in enumerate(rows):
        ratio = row["SPO"] / row["env reward"] if row["env reward"] else float("inf")
        print(f"{seed:>5} {row['env reward']:>11.1%} {row['SPO']:>7.1%} {ratio:>7.2f}")
    env_mean = statistics.mean(r["env reward"] for r in rows)
    spo_mean = statistics.mean(r["SPO"] for r in rows)
    print(f"{'mean':>5} {env_mean:>11.1%} {spo_mean:>7.1%} {spo_mean / max(env_mean, 1e-9):>7.2f}")
    print(f"total {time.perf_counter() - start:.0f}s, torch threads 1")


if __name__ == "__main__":
    main()
