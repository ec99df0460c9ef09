"""A GRPO training step: turngym's trainer against TRL's ``GRPOTrainer``, side by side.

Both train the same tiny Qwen2 (``build_tiny_model``, float32, CPU) on the same single-turn
arithmetic prompts (bench/arithmetic_env.py: the same prompt text, the same reward function), with
the same group size, batch and settings: ``--prompts`` prompts x ``--group`` completions of up to
``--max-new-tokens`` tokens per step, sampled with transformers ``generate`` at T = 1, GRPO
advantages (R - mean) / std within each group, clipped ratio loss (eps 0.2) with token-mean
aggregation (TRL's ``dapo``), no KL term, one optimizer step per batch (AdamW, lr 1e-4).

A step is everything from sampling to the optimizer step (turngym: ``Trainer.train_iteration``;
TRL: one ``Trainer`` step, timed by a callback). Each side runs in its own process; after
``--warmup`` steps its peak resident memory is reset (``/proc/self/clear_refs``) and the next
``--steps`` are timed, each on its own; ``--rounds`` pairs of processes alternate ours and TRL's,
so that a changing load hits both. Printed: steps per second from the median and the fastest
step, the peak RSS during the timed steps, and the ratios (steps/s ours / TRL's; peak ours /
TRL's).

    OMP_NUM_THREADS=1 .venv/bin/python bench/grpo_vs_trl.py     # needs the bench extra (trl)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEARNING_RATE = 1e-4


def reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prompt_texts(model_dir: str, task_ids: list[int]) -> tuple[list[str], list[int]]:
    """The prompt text turngym's agent builds for each task, and the answers."""
    from arithmetic_env import TASK, problem
    from transformers import AutoTokenizer

    from turngym.agents.agent import Agent, AgentConfig, AgentInput

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    agent = Agent(None, tokenizer, AgentConfig(mode="generate"))
    texts, answers = [], []
    for task_id in task_ids:
        question, answer = problem(task_id)
        texts.append(tokenizer.decode(agent.encode_prompt(AgentInput(TASK, question, []))))
        answers.append(answer)
    return texts, answers


def run_ours(args) -> dict[str, float]:
    from turngym.algos.trainer import Trainer
    from turngym.config.run import load_config

    config = load_config(None, [
        f"env.imports=[{HERE / 'arithmetic_env.py'}]", "env.id=turngym/BenchArithmetic-v0",
        f"model.name_or_path={args.model}", f"rollout.tasks_per_iteration={args.prompts}",
        f"rollout.group_size={args.group}", f"rollout.num_slots={args.prompts * args.group}",
        "algo.advantage=grpo", "algo.policy_loss=ppo_clip", "algo.loss_aggregation=token-mean",
        "algo.epochs=1", f"algo.minibatch_size={args.prompts * args.group}",
        f"algo.learning_rate={LEARNING_RATE}", "agent.mode=generate", "agent.temperature=1.0",
        f"agent.max_new_tokens={args.max_new_tokens}", f"train.output_dir={args.out}/ours",
        "train.progress=false", f"train.torch_threads={args.threads}", "train.eval_episodes=1",
    ])  # fmt: skip
    trainer = Trainer(config)
    for iteration in range(args.warmup):
        trainer.train_iteration(iteration)
    reset_peak_memory()
    rewards, seconds = [], []
    for iteration in range(args.warmup, args.warmup + args.steps):
        start = time.perf_counter()
        rewards.append(trainer.train_iteration(iteration)["rollout/mean_return"])
        seconds.append(time.perf_counter() - start)
    peak = peak_memory_mb()
    trainer.close()
    return {"step_s": seconds, "peak_mb": peak, "reward_mean": sum(rewards) / len(rewards)}


def run_trl(args) -> dict[str, float]:
    import torch
    from arithmetic_env import arithmetic_reward
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    steps = args.warmup + args.steps
    texts, answers = prompt_texts(args.model, list(range(steps * args.prompts)))
    dataset = Dataset.from_dict({"prompt": texts, "answer": answers})

    def reward(completions, answer, **_):
        return [arithmetic_reward(c.strip(), a) for c, a in zip(completions, answer, strict=True)]

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds, self.rewards, self.began = [], [], 0.0

        def on_step_begin(self, args_, state, control, **kwargs):
            if state.global_step == args.warmup:
                reset_peak_memory()
            self.began = time.perf_counter()

        def on_step_end(self, args_, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.began)

        def on_log(self, args_, state, control, logs=None, **kwargs):
            if logs and "reward" in logs and state.global_step > args.warmup:
                self.rewards.append(logs["reward"])

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    config = GRPOConfig(
        output_dir=f"{args.out}/trl", per_device_train_batch_size=args.prompts * args.group,
        gradient_accumulation_steps=1, num_generations=args.group,
        max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
        learning_rate=LEARNING_RATE, lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=0.0, max_grad_norm=1.0, beta=0.0, epsilon=0.2, loss_type="dapo",
        scale_rewards="group", num_iterations=1, max_steps=steps, use_cpu=True,
        report_to=[], logging_steps=1, save_strategy="no", disable_tqdm=True, seed=0,
    )  # fmt: skip
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(args.model),
        reward_funcs=reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    rewards = timer.rewards or [float("nan")]
    return {
        "step_s": timer.seconds[args.warmup :],
        "peak_mb": peak_memory_mb(),
        "reward_mean": sum(rewards) / len(rewards),
    }


def summary(runs: list[dict]) -> dict[str, float]:
    """Median and fastest step over every timed step of every round; the largest peak RSS."""
    steps = sorted(t for run in runs for t in run["step_s"])
    return {
        "median_s": steps[len(steps) // 2],
        "best_s": steps[0],
        "peak_mb": max(run["peak_mb"] for run in runs),
        "reward_mean": sum(run["reward_mean"] for run in runs) / len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="ours-then-TRL process pairs")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.side:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        result = (run_ours if args.side == "ours" else run_trl)(args)
        print("RESULT " + json.dumps(result))
        return

    from turngym.agents.tiny import build_tiny_model

    out = tempfile.mkdtemp(prefix="grpo-vs-trl-")
    model = build_tiny_model(f"{out}/model")
    results = {"ours": [], "trl": []}
    for round_index in range(args.rounds):  # alternating, so that changing load hits both
        for side in ("ours", "trl"):
            command = [sys.executable, __file__, "--side", side, "--model", str(model),
                       "--out", f"{out}/round{round_index}"]  # fmt: skip
            for name in ("prompts", "group", "max_new_tokens", "warmup", "steps", "threads"):
                command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
            results[side].append(json.loads(lines[-1].removeprefix("RESULT ")))
    ours, trl = (summary(results[side]) for side in ("ours", "trl"))
    print(f"tiny Qwen2, CPU, torch threads {args.threads}; {args.prompts} prompts x {args.group} "
          f"completions of <= {args.max_new_tokens} tokens per step; {args.rounds} rounds of "
          f"{args.steps} timed steps after {args.warmup} warm-up, per side")  # fmt: skip
    print(f"{'':>26} {'turngym':>9} {'TRL':>9} {'ratio':>7}")
    for key, label in (("median_s", "steps/s (median step)"), ("best_s", "steps/s (fastest step)")):
        print(f"{label:>26} {1 / ours[key]:>9.3f} {1 / trl[key]:>9.3f} "
              f"{trl[key] / ours[key]:>6.2f}x")  # fmt: skip
    print(f"{'peak RSS (MB)':>26} {ours['peak_mb']:>9.0f} {trl['peak_mb']:>9.0f} "
          f"{ours['peak_mb'] / trl['peak_mb']:>6.2f}x")  # fmt: skip
    print(f"{'mean reward':>26} {ours['reward_mean']:>9.3f} {trl['reward_mean']:>9.3f}")


if __name__ == "__main__":
    main()
