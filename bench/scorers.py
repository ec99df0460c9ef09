"""Throughput of the learned scorers on the tiny model (CPU).

1. Reward model: texts/s of ``RewardModel.score_texts`` in batches of 16 against one text per
   forward pass (the reference), for short and long texts.
2. Rubric judge (logprobs mode, local backend): judged texts/s on a workload where each distinct
   text appears ``--repeats`` times (a group of rollouts that end the same way), with the cache
   against without it (the reference), and the model calls each made.

    OMP_NUM_THREADS=1 python bench/scorers.py
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from functools import partial

import torch
from transformers.utils import logging as hf_logging

from turngym.agents.backends import make_backend
from turngym.agents.tiny import build_tiny_model
from turngym.rewards.reward_model import RewardModel
from turngym.rewards.rubric_judge import RubricJudge

WORDS = ("order refund package address email password thanks sorry help please customer "
         "delivered shipped cancel size replacement account number tracking").split()  # fmt: skip


def texts(count: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(count)]


def rate(work, count: int) -> float:
    work()  # warm up
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def judge_all(judges: list, backend, workload: list[str], cache: bool) -> None:
    """A fresh judge (an empty cache) over the whole workload, kept in ``judges``."""
    judges.append(RubricJudge("helpfulness", backend=backend, cache=cache))
    judges[-1].judge(workload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=256, help="reward-model texts")
    parser.add_argument("--words", type=int, nargs="+", default=[10, 60], help="words per text")
    parser.add_argument("--distinct", type=int, default=16, help="distinct judged texts")
    parser.add_argument("--repeats", type=int, default=4, help="times each judged text recurs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as scratch:
        base = build_tiny_model(f"{scratch}/tiny")
        reward_model = RewardModel.from_pretrained(base)
        print(f"torch threads {args.threads}")
        for words in args.words:
            batch = texts(args.texts, words, 0)
            batched, single = (
                rate(partial(reward_model.score_texts, batch, batch_size=size), len(batch))
                for size in (16, 1)
            )
            print(
                f"reward model, {words}-word texts: {batched:.0f} texts/s in batches of 16 vs "
                f"{single:.0f} one at a time (reference): ratio {batched / single:.2f}"
            )
        backend = make_backend(name_or_path=base)
        workload = texts(args.distinct, args.words[-1], 1) * args.repeats
        random.Random(2).shuffle(workload)
        figures = {}
        for cache in (True, False):
            judges: list[RubricJudge] = []
            figures[cache] = (rate(partial(judge_all, judges, backend, workload, cache),
                                   len(workload)), judges)  # fmt: skip
        figures = {cache: (speed, judges[-1].stats.calls)
                   for cache, (speed, judges) in figures.items()}  # fmt: skip
        (on, on_calls), (off, off_calls) = figures[True], figures[False]
        print(f"rubric judge, {len(workload)} texts ({args.distinct} distinct): {on:.1f} texts/s "
              f"with the cache ({on_calls} model calls) vs {off:.1f} without ({off_calls} calls, "
              f"reference): ratio {on / off:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
