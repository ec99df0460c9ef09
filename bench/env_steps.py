"""Environment steps per second of turngym/Household-v0 under a random admissible policy.

Ours: a direct ``env.step`` loop and :class:`EnvPool` driven with submit/poll (as the rollout
loop drives it). Reference: gymnasium's ``SyncVectorEnv`` / ``AsyncVectorEnv`` measured in the
same run. A "step" is one ``env.step`` transition; resets (and gymnasium's autoreset steps) cost
time but are not counted.

    OMP_NUM_THREADS=1 python bench/env_steps.py --seconds 3
"""

from __future__ import annotations

import argparse
import random
import time

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

import turngym.envs  # noqa: F401  (registers turngym ids)
from turngym.agents.env_pool import EnvPool

ENV_ID = "turngym/Household-v0"


def direct_loop(seconds: float, seed: int) -> float:
    env, rng = gym.make(ENV_ID), random.Random(seed)
    _, info = env.reset(seed=seed)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        steps += 1
        if terminated or truncated:
            _, info = env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def pool_loop(slots: int, workers: int, seconds: float, seed: int) -> float:
    rng = random.Random(seed)
    with EnvPool(ENV_ID, num_slots=slots, num_workers=workers) as pool:
        for slot in range(slots):  # warm up: workers spawned, environments built
            pool.submit(slot, "reset", {"seed": seed + slot})
        pending = slots
        while pending:
            pending -= len(pool.poll(timeout=None))
        for slot in range(slots):
            pool.submit(slot, "reset", {})
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or pool.in_flight:
            for result in pool.poll(timeout=None):
                assert result.ok, result.error
                if len(result.value) == 5:
                    steps += 1
                    _, _, terminated, truncated, info = result.value
                    if terminated or truncated:
                        pool.submit(result.slot, "reset", {})
                        continue
                else:
                    info = result.value[1]
                if time.perf_counter() - start < seconds:
                    pool.submit(result.slot, "step", rng.choice(info["admissible_actions"]))
        return steps / (time.perf_counter() - start)


def vector_loop(envs: gym.vector.VectorEnv, seconds: float, seed: int) -> float:
    rng = random.Random(seed)
    _, infos = envs.reset(seed=seed)
    done = np.zeros(envs.num_envs, dtype=bool)  # NEXT_STEP autoreset: next step is a reset
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        actions = tuple(
            "look" if done[i] else rng.choice(infos["admissible_actions"][i])
            for i in range(envs.num_envs)
        )
        steps += int((~done).sum())
        _, _, terminated, truncated, infos = envs.step(actions)
        done = terminated | truncated
    elapsed = time.perf_counter() - start
    envs.close()
    return steps / elapsed


def make_vector(kind: str, num_envs: int) -> gym.vector.VectorEnv:
    fns = [lambda: gym.make(ENV_ID) for _ in range(num_envs)]
    if kind == "sync":
        return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    return AsyncVectorEnv(
        fns, shared_memory=False, context="spawn", autoreset_mode=AutoresetMode.NEXT_STEP
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--slots", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}  seconds per measurement: {args.seconds}")

    s, w = args.seconds, args.workers
    rows = []
    n = max(args.slots)
    rows.append(
        (
            "direct env.step loop (1 env)",
            direct_loop(s, args.seed),
            "SyncVectorEnv(n=1)",
            vector_loop(make_vector("sync", 1), s, args.seed),
        )
    )
    rows.append(
        (
            f"EnvPool(slots={n}, workers=0)",
            pool_loop(n, 0, s, args.seed),
            f"SyncVectorEnv(n={n})",
            vector_loop(make_vector("sync", n), s, args.seed),
        )
    )
    async_steps = vector_loop(make_vector("async", w), s, args.seed)
    for slots in args.slots:
        rows.append(
            (
                f"EnvPool(slots={slots}, workers={w})",
                pool_loop(slots, w, s, args.seed),
                f"AsyncVectorEnv(n={w}, shm=False)",
                async_steps,
            )
        )

    print(f"\n{'ours':<32}{'steps/s':>10}  {'reference':<32}{'steps/s':>10}{'ratio':>8}")
    for ours, ours_rate, ref, ref_rate in rows:
        print(
            f"{ours:<32}{ours_rate:>10.0f}  {ref:<32}{ref_rate:>10.0f}{ours_rate / ref_rate:>8.2f}"
        )


if __name__ == "__main__":
    main()
