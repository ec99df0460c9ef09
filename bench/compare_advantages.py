"""Learning curves of advantage estimators on the same env, model and budget, over seeds.

Each (estimator, seed) trains the tiny model from scratch with ``configs/household.yaml``
(Household-v0, choose mode, 8 tasks x 8 rollouts per iteration), overriding only the estimator,
the seed, the iteration count and the evaluation schedule. Prints a table of held-out success
rates (mean and each seed) per checkpoint and writes it as CSV, and a plot when matplotlib is
installed.

    OMP_NUM_THREADS=2 python bench/compare_advantages.py --estimators grpo gigpo rloo --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from turngym.algos.trainer import Trainer
from turngym.config.run import load_config


def run(estimator: str, seed: int, args: argparse.Namespace) -> list[tuple[int, float]]:
    output = Path(args.output_dir) / f"{estimator}-seed{seed}"
    config = load_config(
        "configs/household.yaml",
        [
            f"algo.advantage={estimator}",
            f"train.seed={seed}",
            f"train.iterations={args.iterations}",
            f"train.eval_every={args.eval_every}",
            f"train.eval_episodes={args.eval_episodes}",
            "train.checkpoint_every=0",
            "train.progress=false",
            f"train.output_dir={output}",
        ],
    )
    Trainer(config).train()
    rows = [json.loads(line) for line in (output / "metrics.jsonl").open()]
    return [(r["iteration"], r["eval/success_rate"]) for r in rows if "eval/success_rate" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimators", nargs="+", default=["grpo", "gigpo", "rloo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--output-dir", default="runs/compare_advantages")
    args = parser.parse_args()

    curves = {(e, s): dict(run(e, s, args)) for e in args.estimators for s in args.seeds}
    iterations = sorted({i for curve in curves.values() for i in curve})
    table = Path(args.output_dir) / "success.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["estimator", "iteration", "mean", *[f"seed{s}" for s in args.seeds]])
        print(f"{'estimator':<10} {'iter':>5} {'mean':>6}  per seed")
        for estimator in args.estimators:
            for i in iterations:
                values = [curves[estimator, s][i] for s in args.seeds]
                mean = sum(values) / len(values)
                writer.writerow([estimator, i, f"{mean:.3f}", *[f"{v:.3f}" for v in values]])
                print(
                    f"{estimator:<10} {i:>5} {mean:>6.1%}  " + " ".join(f"{v:.0%}" for v in values)
                )
    print(f"table: {table}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    for estimator in args.estimators:
        means = [
            sum(curves[estimator, s][i] for s in args.seeds) / len(args.seeds) for i in iterations
        ]
        plt.plot(iterations, means, marker="o", label=estimator)
    plt.xlabel("iteration (64 episodes each)")
    plt.ylabel(f"held-out success ({args.eval_episodes} episodes)")
    plt.legend()
    plt.savefig(Path(args.output_dir) / "success.png", dpi=120)


if __name__ == "__main__":
    main()
