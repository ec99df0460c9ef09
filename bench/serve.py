"""Throughput of ``turngym serve`` (the OpenAI-compatible server) with the real ``openai`` client.

For 1 and 16 concurrent clients, each sending chat completions (greedy, ``--max-tokens``
tokens, distinct prompts), requests/s and generated tokens/s with batching on
(``max_batch_size=16``) against batching off (``max_batch_size=1``, one request per forward
pass: the reference), and the ratio on/off. The model is the tiny offline Qwen2, or
``--checkpoint``.

    OMP_NUM_THREADS=1 python bench/serve.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import torch
from transformers.utils import logging as hf_logging

from turngym.agents.serve import ModelServer
from turngym.agents.tiny import build_tiny_model

PROMPTS = [
    "go to the desk", "open the fridge", "take the mug", "what is in the drawer",
    "put the apple on the table", "look around", "find a pen", "close the cabinet",
]  # fmt: skip


def run_clients(server: ModelServer, clients: int, requests: int, max_tokens: int) -> tuple:
    """(requests/s, tokens/s) of ``requests`` chat completions from ``clients`` threads."""
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=600)

    def ask(k: int) -> int:
        messages = [{"role": "user", "content": f"{PROMPTS[k % len(PROMPTS)]} (request {k})"}]
        reply = client.chat.completions.create(
            model=server.model_name, messages=messages, max_tokens=max_tokens, temperature=0
        )
        return reply.usage.completion_tokens

    ask(0)  # warm up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(ask, range(requests)))
    seconds = time.perf_counter() - start
    return requests / seconds, tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the tiny model, built now")
    parser.add_argument("--requests", type=int, default=64, help="requests per measurement")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or build_tiny_model(f"{scratch}/tiny")
        print(f"torch threads {args.threads}; {args.requests} requests of {args.max_tokens} "
              f"tokens each; model {checkpoint}")  # fmt: skip
        print(f"{'clients':>7}  {'batching on req/s':>17} {'tok/s':>8}  "
              f"{'off (reference) req/s':>21} {'tok/s':>8}  {'ratio':>5}")  # fmt: skip
        for clients in (1, 16):
            figures = {}
            for batch in (16, 1):
                with ModelServer.from_checkpoint(checkpoint, model_name="m",
                                                 max_batch_size=batch) as server:  # fmt: skip
                    figures[batch] = run_clients(server, clients, args.requests, args.max_tokens)
                    sizes = server.batcher.batch_sizes
                figures[batch] += (sum(sizes) / len(sizes),)
            on, off = figures[16], figures[1]
            print(f"{clients:>7}  {on[0]:>17.1f} {on[1]:>8.0f}  {off[0]:>21.1f} {off[1]:>8.0f}  "
                  f"{on[0] / off[0]:>5.2f}   (mean batch {on[2]:.1f} vs {off[2]:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
