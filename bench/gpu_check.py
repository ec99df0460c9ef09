"""The GPU check: vLLM rollouts vs transformers generate, and DeepSpeed ZeRO-2 GiGPO steps with
weight sync, on a random-init Qwen2 of realistic size (about 0.46B parameters; no download).

1. Builds the model offline: the tiny model's byte-level tokenizer with a Qwen2 of hidden size
   1024, 24 layers, 16 heads (2 key-value heads), MLP 5504, bfloat16.
2. Rollout tokens/s at batch 64 and 256 (prompts of 128 random token ids, 128 new tokens, T=1):
   the vLLM backend against the transformers backend (``model.generate``), same model.
3. A few GiGPO iterations on turngym/Household-v0 with ``engine.kind: deepspeed`` (ZeRO-2, bf16)
   and ``model.backend: vllm``: seconds per iteration, the weight sync included.
4. Peak GPU memory (``torch.cuda.max_memory_allocated``; vLLM's own pool is set by
   ``gpu_memory_utilization``) and the total time, which must stay under 8 minutes.

On a machine without a CUDA GPU it exits at once with status 2 and says so.

    python bench/gpu_check.py            # needs turngym[vllm,deepspeed] and one GPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

BUDGET_S = 8 * 60


def build_model(folder: str) -> str:
    """A random-init Qwen2 of about 0.46B parameters with the tiny model's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from turngym.agents.tiny import build_tiny_model, tiny_config

    build_tiny_model(folder)  # the tokenizer (and a tiny model, replaced below)
    config = tiny_config(512, hidden_size=1024, num_layers=24, num_heads=16,
                         intermediate_size=5504)  # fmt: skip
    config.num_key_value_heads = 2
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters, bfloat16")
    model.save_pretrained(folder)
    return folder


def rollout_tokens_per_second(folder: str, batches: list[int], new_tokens: int) -> None:
    import torch

    from turngym.agents.backends import make_backend

    ours = make_backend("vllm", name_or_path=folder, dtype="bfloat16",
                        options={"gpu_memory_utilization": 0.35})  # fmt: skip
    reference = make_backend("transformers", name_or_path=folder, dtype="bfloat16")
    reference.model.to("cuda")
    generator = torch.Generator().manual_seed(0)
    print(f"{'batch':>6} {'vLLM tok/s':>11} {'transformers tok/s':>19} {'ratio':>6}")
    for batch in batches:
        prompts = torch.randint(10, 500, (batch, 128), generator=generator).tolist()
        speeds = []
        for backend in (ours, reference):
            backend.generate(prompts[:8], max_new_tokens=8)  # warm-up
            torch.cuda.synchronize()
            start = time.perf_counter()
            out = backend.generate(prompts, max_new_tokens=new_tokens, temperature=1.0)
            torch.cuda.synchronize()
            speeds.append(sum(len(g.token_ids) for g in out) / (time.perf_counter() - start))
        print(f"{batch:>6} {speeds[0]:>11.0f} {speeds[1]:>19.0f} {speeds[0] / speeds[1]:>5.2f}x")
    del ours, reference
    torch.cuda.empty_cache()


def gigpo_steps(folder: str, iterations: int, output_dir: str) -> None:
    from turngym.algos.trainer import Trainer
    from turngym.config.run import load_config

    config = load_config(None, [
        f"model.name_or_path={folder}", "model.dtype=bfloat16", "model.backend=vllm",
        "engine.kind=deepspeed", "engine.deepspeed.zero_optimization.stage=2",
        "engine.deepspeed.bf16.enabled=true", "env.id=turngym/Household-v0",
        "env.max_episode_steps=8", "algo.advantage=gigpo", "rollout.tasks_per_iteration=16",
        "rollout.group_size=8", "agent.mode=generate", "agent.max_new_tokens=32",
        "algo.epochs=1", "algo.minibatch_size=256", "algo.learning_rate=1e-6",
        f"train.output_dir={output_dir}", "train.progress=false", "train.eval_episodes=8",
    ])  # fmt: skip
    trainer = Trainer(config)
    for iteration in range(iterations):
        start = time.perf_counter()
        metrics = trainer.train_iteration(iteration)
        print(f"GiGPO iteration {iteration}: {time.perf_counter() - start:.1f} s "
              f"(rollout {metrics['time/rollout_s']:.1f} s), "
              f"{metrics.get('rollout/episodes', 0):.0f} episodes")  # fmt: skip
    trainer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench/gpu_check.py needs a CUDA GPU and found none (torch.cuda.is_available() is "
              "False); nothing was measured. Run it on a GPU machine with "
              "turngym[vllm,deepspeed] installed.", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    start = time.perf_counter()
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    folder = build_model(tempfile.mkdtemp(prefix="gpu-check-") + "/model")
    rollout_tokens_per_second(folder, args.batches, args.new_tokens)
    gigpo_steps(folder, args.iterations, tempfile.mkdtemp(prefix="gpu-check-run-"))
    print(f"peak GPU memory (torch allocator): {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    total = time.perf_counter() - start
    print(f"total {total:.0f} s (budget {BUDGET_S} s)")
    if total > BUDGET_S:
        sys.exit(f"over the {BUDGET_S} s budget")


if __name__ == "__main__":
    main()
