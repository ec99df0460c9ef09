"""Evaluation throughput: episodes per second of ``run_episodes`` through the environment pool
with the policy's calls batched across episodes, against running the same episodes one at a
time (one slot: every policy call sees one state), measured in the same run.

The tiny offline Qwen2 (random weights) on ``turngym/Household-v0``; each row runs the same
``--episodes`` held-out tasks (ids 1,000,000+) with the same agent settings:

- ``choose`` mode (the demos' mode: the policy scores each admissible action);
- ``generate`` mode (free text, ``--max-new-tokens`` per turn);
- ``--endpoint``: the same model served by ``turngym serve``'s server on 127.0.0.1 and evaluated
  through the ``openai`` client (:class:`EndpointAgent`), generate mode, concurrent requests
  that the server batches, against one request at a time.

    OMP_NUM_THREADS=1 python bench/eval_throughput.py               # ~1-2 min
    OMP_NUM_THREADS=1 python bench/eval_throughput.py --endpoint    # adds the served model
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import run_episodes
from turngym.agents.tiny import build_tiny_model
from turngym.algos.eval_run import episode_specs

ENV_ID = "turngym/Household-v0"
EVAL_START = 1_000_000


def episodes_per_second(agent, slots: int, workers: int, episodes: int) -> tuple[float, int]:
    """Run ``episodes`` tasks; episodes/s (pool start-up excluded) and how many were won."""
    specs = episode_specs(list(range(EVAL_START, EVAL_START + episodes)), 1, seed=0)
    with EnvPool(ENV_ID, {}, slots, workers) as pool:
        start = time.perf_counter()
        trajectories = run_episodes(agent, pool, specs)
        seconds = time.perf_counter() - start
    return episodes / seconds, sum(t.won for t in trajectories)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--slots", type=int, default=32, help="episodes at once (ours)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (ours, 2nd row)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--endpoint", action="store_true", help="also the served model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}; {args.episodes} episodes of {ENV_ID} per row")
    folder = Path(tempfile.mkdtemp(prefix="eval_throughput_"))
    model_dir = build_tiny_model(folder / "tiny", env_ids=[ENV_ID])
    backend = make_backend(name_or_path=model_dir)

    def agent(mode: str) -> Agent:
        torch.manual_seed(0)
        config = AgentConfig(mode=mode, max_new_tokens=args.max_new_tokens)
        return Agent(backend, backend.tokenizer, config, seed=0)

    rows = []
    for mode in ("choose", "generate"):
        reference, ref_won = episodes_per_second(agent(mode), 1, 0, args.episodes)
        for workers in (0, args.workers):
            ours, won = episodes_per_second(agent(mode), args.slots, workers, args.episodes)
            rows.append((f"{mode}: slots={args.slots}, workers={workers}", ours, won,
                         f"{mode}: one at a time", reference, ref_won))  # fmt: skip
    if args.endpoint:
        rows += endpoint_rows(model_dir, args)
    print(f"{'ours':42} {'ep/s':>7} {'won':>4}   {'reference':28} {'ep/s':>7} {'won':>4}  ratio")
    for name, ours, won, ref_name, reference, ref_won in rows:
        print(f"{name:42} {ours:7.2f} {won:4d}   {ref_name:28} {reference:7.2f} {ref_won:4d}  "
              f"{ours / reference:5.2f}")  # fmt: skip


def endpoint_rows(model_dir: Path, args: argparse.Namespace) -> list[tuple]:
    from turngym.agents.endpoint_agent import EndpointAgent
    from turngym.agents.serve import ModelServer
    from turngym.common.chat_client import ChatClient

    config = AgentConfig(mode="generate", max_new_tokens=args.max_new_tokens)
    with ModelServer.from_checkpoint(model_dir, model_name="tiny", max_batch_size=args.slots) as s:

        def agent() -> EndpointAgent:
            return EndpointAgent(ChatClient(s.base_url, "tiny"), config, seed=0,
                                 concurrency=args.slots)  # fmt: skip

        reference, ref_won = episodes_per_second(agent(), 1, 0, args.episodes)
        ours, won = episodes_per_second(agent(), args.slots, 0, args.episodes)
    return [(f"endpoint: slots={args.slots} (server batches)", ours, won,
             "endpoint: one at a time", reference, ref_won)]  # fmt: skip


if __name__ == "__main__":
    main()
