"""Rollout tokens per second: the vLLM backend against the transformers backend.

Same tiny model (``build_tiny_model``, float32), same prompts (real Household steps encoded by
``Agent.encode_prompt``), same sampling (T = 1, top_p = 1), both returning per-token log-probs;
batch sizes 8, 32 and 128. Tokens are counted as produced (up to and including each row's
end-of-turn token). Each (backend, batch) is warmed up once, then timed ``--repeats`` times,
interleaved; the best is kept. Runs in the interpreter that has vLLM (``.venv-vllm`` on CPU)::

    OMP_NUM_THREADS=1 .venv-vllm/bin/python bench/rollout_vllm.py
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

import torch  # noqa: E402


def tokens_per_second(backend, prompts, max_new_tokens: int) -> float:
    start = time.perf_counter()
    generations = backend.generate(prompts, max_new_tokens=max_new_tokens, temperature=1.0)
    seconds = time.perf_counter() - start
    return sum(len(g.token_ids) for g in generations) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    # vLLM's CPU worker binds its OpenMP threads to cores (all of them by default) and then
    # blocks torch.set_num_threads in the process: give both backends the same cores
    bind = "0" if args.threads == 1 else f"0-{args.threads - 1}"
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", bind)
    torch.set_num_threads(args.threads)
    logging.getLogger("vllm").setLevel(logging.WARNING)

    from rollout_tokens import household_states  # bench/: the same prompts as rollout_tokens.py
    from transformers.utils import logging as hf_logging

    from turngym.agents.agent import Agent, AgentConfig
    from turngym.agents.backends import make_backend
    from turngym.agents.tiny import build_tiny_model

    hf_logging.set_verbosity_error()
    folder = build_tiny_model(tempfile.mkdtemp(prefix="tiny-") + "/model")
    reference = make_backend("transformers", name_or_path=folder)
    ours = make_backend("vllm", name_or_path=folder, options={"max_model_len": 1024})
    agent = Agent(reference, reference.tokenizer, AgentConfig(mode="generate"))
    prompts = [agent.encode_prompt(s) for s in household_states(max(args.batches), seed=0)]
    width = max(len(p) for p in prompts)
    print(f"tiny Qwen2 ({sum(p.numel() for p in reference.model.parameters()) / 1e6:.2f}M params),"
          f" float32, CPU, torch threads {torch.get_num_threads()} (vLLM bound to cores "
          f"{os.environ['VLLM_CPU_OMP_THREADS_BIND']}); prompts up to {width} tokens, "
          f"{args.max_new_tokens} new tokens, T=1")  # fmt: skip
    print(f"{'batch':>6} {'vLLM tok/s':>11} {'transformers tok/s':>19} {'ratio':>6}")
    for batch in args.batches:
        rows = prompts[:batch]
        best = {"vllm": 0.0, "transformers": 0.0}
        for backend in (ours, reference):  # warm-up
            tokens_per_second(backend, rows, args.max_new_tokens)
        for _ in range(args.repeats):
            best["vllm"] = max(best["vllm"], tokens_per_second(ours, rows, args.max_new_tokens))
            speed = tokens_per_second(reference, rows, args.max_new_tokens)
            best["transformers"] = max(best["transformers"], speed)
        ratio = best["vllm"] / best["transformers"]
        print(f"{batch:>6} {best['vllm']:>11.0f} {best['transformers']:>19.0f} {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
