"""Math verifications per second: turngym's VerifierPool (2 workers, a per-item timeout) against
a direct in-process call of the same verifier, on GSM8K and MATH-500 answers.

Items: for each gold answer, the reference solution (the whole worked text, its final answer
extracted) and a wrong final answer: GSM8K, the integer gold + 1 (a wrong number, the common
case in RL); MATH-500, ``gold + 1`` written as LaTeX, so that sympy's comparison runs in full.
Reference: ``verify_item(item, timeout=None)`` in a loop in this process (one core, no alarm).
Pool: ``VerifierPool(num_workers=2).verify(items)`` after start-up (reported apart). The ratio
is pool / direct (>1: the pool is faster, using 2 cores).

    OMP_NUM_THREADS=1 python bench/verify_math.py [--limit N]

(Not named math_verify.py: a script of that name would shadow the math_verify package.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from turngym.common.math import VerifierPool, VerifyItem, verify_item
from turngym.common.math.verifier import warm_up

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "math"


def items_of(dataset: str, limit: int) -> list[VerifyItem]:
    if dataset == "gsm8k":
        rows = [json.loads(x) for x in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()]
        pairs = [(r["answer"], r["answer"].rsplit("####", 1)[1].strip()) for r in rows[:limit]]
    else:
        rows = [json.loads(x) for x in (DATA / "math500" / "test.jsonl").read_text().splitlines()]
        pairs = [(r["solution"], r["answer"]) for r in rows[:limit]]
    items = []
    for solution, gold in pairs:
        items.append(VerifyItem(solution, gold))
        plain = gold.replace(",", "")
        wrong = str(int(plain) + 1) if plain.lstrip("-").isdigit() else f"{gold} + 1"
        items.append(VerifyItem(f"<answer>{wrong}</answer>", gold))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=500, help="gold answers per data set")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    warm_up()
    start = time.perf_counter()
    pool = VerifierPool(num_workers=args.workers, timeout=5.0)
    pool.start()
    print(f"pool start-up ({args.workers} workers, spawn, math-verify imported): "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip
    print(f"{'data':10} {'items':>6} {'direct/s':>10} {'pool/s':>10} {'pool/direct':>12} "
          f"{'agree':>6} {'timeouts':>9}")  # fmt: skip
    for dataset in ("gsm8k", "math500"):
        items = items_of(dataset, args.limit)
        start = time.perf_counter()
        direct = [verify_item(item, timeout=None) for item in items]
        direct_rate = len(items) / (time.perf_counter() - start)
        start = time.perf_counter()
        pooled = pool.verify(items)
        pool_rate = len(items) / (time.perf_counter() - start)
        agree = sum(a.score == b.score for a, b in zip(direct, pooled, strict=True))
        ratio = pool_rate / direct_rate
        print(f"{dataset:10} {len(items):6d} {direct_rate:10.0f} {pool_rate:10.0f} "
              f"{ratio:12.2f} {agree:4d}/{len(items)} {pool.timeouts:9d}")  # fmt: skip
    pool.close()


if __name__ == "__main__":
    main()
