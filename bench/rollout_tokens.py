"""Rollout throughput of the transformers backend with the tiny model (CPU).

1. Generate mode: generated tokens/s of ``TransformersBackend.generate`` (which also returns
   per-token log-probs) against plain ``model.generate`` with the same sampling settings and no
   logits output, at several batch sizes. Tokens are counted as produced (up to and including
   each row's first end-of-turn token).
2. Choose mode: states/s of packed candidate scoring (``candidate_logprobs``: prompt once,
   candidates behind a block mask) against one row per (state, candidate)
   (``continuation_logprobs``), on real Household prompts and admissible actions, and the
   largest absolute difference between their log-probs.

    OMP_NUM_THREADS=1 python bench/rollout_tokens.py
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

import gymnasium as gym
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

import turngym.envs  # noqa: F401  (registers turngym ids)
from turngym.agents.agent import Agent, AgentConfig, AgentInput
from turngym.agents.backends import InferenceBackend, make_backend
from turngym.agents.scoring import candidate_logprobs, continuation_logprobs
from turngym.agents.tiny import build_tiny_model


def household_states(count: int, seed: int) -> list[AgentInput]:
    """Steps seen by a random admissible policy (with the previous turns as history)."""
    env, rng, states = gym.make("turngym/Household-v0"), random.Random(seed), []
    while len(states) < count:
        observation, info = env.reset(seed=seed + len(states))
        past, done = [], False
        while not done and len(states) < count:
            actions = info["admissible_actions"]
            states.append(AgentInput(info["task"], observation, actions, list(past)))
            action = rng.choice(actions)
            past.append((observation, action))
            observation, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
    return states


def timed(ours, reference, repeats: int) -> tuple[float, object, float, object]:
    """Mean seconds and last output of each, interleaved so that drifting load hits both."""
    ours(), reference()  # warm up
    ours_s = ref_s = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        ours_out = ours()
        middle = time.perf_counter()
        ref_out = reference()
        ours_s, ref_s = ours_s + middle - start, ref_s + time.perf_counter() - middle
    return ours_s / repeats, ours_out, ref_s / repeats, ref_out


def reference_generate(backend: InferenceBackend, prompts, max_new_tokens: int) -> int:
    """Plain ``model.generate``; returns the number of tokens produced."""
    width = max(len(p) for p in prompts)
    pad, eos = backend.pad_token_id, backend.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        sequences = backend.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            eos_token_id=eos,
            pad_token_id=pad,
        )
    produced = 0
    for row in sequences[:, width:].tolist():
        produced += row.index(eos) + 1 if eos in row else len(row)
    return produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--states", type=int, default=64, help="choose-mode states")
    parser.add_argument("--score-batch", type=int, default=16, help="states per scoring call")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    hf_logging.disable_progress_bar()
    print(f"torch threads: {torch.get_num_threads()}")

    with tempfile.TemporaryDirectory() as folder:
        build_tiny_model(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    backend = make_backend(model=model, tokenizer=tokenizer)
    states = household_states(max(args.states, max(args.batches)), args.seed)

    # -- generate mode ---------------------------------------------------------------------------
    agent = Agent(backend, tokenizer, AgentConfig(mode="generate"))
    prompts = [agent.encode_prompt(s) for s in states]
    n = args.max_new_tokens
    print(f"\ngenerate mode, max_new_tokens={n}, do_sample=True, T=1, top_p=1, top_k=0")
    print(f"mean prompt length: {sum(map(len, prompts)) / len(prompts):.0f} tokens")
    print(f"{'batch':>5}{'ours tok/s':>12}{'ref tok/s':>12}{'ratio':>8}{'tok/row':>9}")
    for batch in args.batches:
        rows = prompts[:batch]
        ours_s, gens, ref_s, produced = timed(
            lambda rows=rows: backend.generate(rows, n),
            lambda rows=rows: reference_generate(backend, rows, n),
            args.repeats,
        )
        tokens = sum(len(g.token_ids) for g in gens)
        ours, ref = tokens / ours_s, produced / ref_s
        print(f"{batch:>5}{ours:>12.0f}{ref:>12.0f}{ours / ref:>8.2f}{tokens / batch:>9.1f}")

    # -- choose mode ------------------------------------------------------------------------------
    agent = Agent(backend, tokenizer, AgentConfig(mode="choose"))
    states = states[: args.states]
    prompts = [agent.encode_prompt(s) for s in states]
    cands = [[agent.encode_action(a) for a in s.admissible_actions] for s in states]
    flat_prompts = [p for p, cs in zip(prompts, cands, strict=True) for _ in cs]
    flat_cands = [c for cs in cands for c in cs]
    k = args.score_batch
    chunks = [range(i, min(i + k, len(states))) for i in range(0, len(states), k)]

    def packed():
        out = []
        for idx in chunks:
            out += candidate_logprobs(
                model, [prompts[i] for i in idx], [cands[i] for i in idx], backend.pad_token_id
            )
        return [v for per_state in out for v in per_state]

    def per_row():
        out, offsets = [], [0]
        for cs in cands:
            offsets.append(offsets[-1] + len(cs))
        for idx in chunks:
            lo, hi = offsets[idx.start], offsets[idx.stop]
            out += continuation_logprobs(
                model, flat_prompts[lo:hi], flat_cands[lo:hi], pad_token_id=backend.pad_token_id
            )
        return out

    with torch.no_grad():
        packed_s, packed_out, rows_s, rows_out = timed(packed, per_row, args.repeats)
    diff = max(
        (a - b).abs().max().item() for a, b in zip(packed_out, rows_out, strict=True) if len(a)
    )
    print(
        f"\nchoose mode: {len(states)} states, {len(flat_cands)} candidates "
        f"({len(flat_cands) / len(states):.1f}/state), {k} states per call"
    )
    print(
        f"{'ours: packed states/s':>24}{'ref: row-per-candidate':>26}{'ratio':>8}{'max|dlogp|':>12}"
    )
    print(
        f"{len(states) / packed_s:>24.1f}{len(states) / rows_s:>26.1f}"
        f"{rows_s / packed_s:>8.2f}{diff:>12.2e}"
    )


if __name__ == "__main__":
    main()
