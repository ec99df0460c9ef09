"""One rank of the DeepSpeed engine tests, started by ``torchrun`` (tests/algos/test_deepspeed.py).

Every rank builds the same tiny Qwen2 (same seed) and the same fixed batches; each optimizer step
takes ``BATCH`` sequences, of which rank r back-propagates rows r*B/k ... (r+1)*B/k (k ranks).
Rank 0 writes the global losses (the mean of the ranks' losses) and the first and final full
weights. With ``--save-after S FOLDER`` the engine saves a checkpoint after step S; with
``--resume FOLDER`` the run starts from it (weights from the ``save_pretrained`` folder, optimizer
state from ``engine.load``, unless ``--weights-only``) and takes the remaining steps. Several
``--stage`` values run one after the other in the same processes (one launch); ``{stage}`` in a
path is replaced by the stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

BATCH, LENGTH, VOCAB = 4, 12, 64


def batches(steps: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, VOCAB, (steps, BATCH, LENGTH), generator=generator)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", type=int, nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", required=True)
    parser.add_argument("--save-after", nargs=2, default=None, metavar=("STEP", "FOLDER"))
    parser.add_argument("--resume", default=None, help="checkpoint folder to start from")
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--weights-only", action="store_true", help="resume without engine.load")
    parser.add_argument(
        "--offload-bf16",
        action="store_true",
        help="bf16, optimizer and parameter offload to the CPU (torch's AdamW)",
    )
    args = parser.parse_args()
    for stage in args.stage:
        run(args, stage)


def run(args: argparse.Namespace, stage: int) -> None:
    from transformers import AutoModelForCausalLM

    from turngym.agents.tiny import tiny_config
    from turngym.algos.deepspeed_engine import DeepSpeedEngine, init_distributed, rank_and_world

    torch.set_num_threads(1)
    init_distributed()
    rank, world = rank_and_world()
    torch.distributed.barrier()  # the previous stage's files are written
    resume = args.resume.format(stage=stage) if args.resume else None
    save_after = args.save_after[1].format(stage=stage) if args.save_after else None
    if resume:
        model = AutoModelForCausalLM.from_pretrained(resume)
        first = torch.load(Path(resume) / "done_steps.pt")
    else:
        torch.manual_seed(0)
        config = tiny_config(VOCAB, hidden_size=32, num_layers=2, num_heads=2,
                             intermediate_size=64)  # fmt: skip
        model = AutoModelForCausalLM.from_config(config)
        first = 0
    settings = {"zero_optimization": {"stage": stage}}
    if args.offload_bf16:
        offload = {"offload_optimizer": {"device": "cpu"}, "offload_param": {"device": "cpu"}}
        settings = {"zero_optimization": {"stage": stage, **offload}, "bf16": {"enabled": True},
                    "zero_force_ds_cpu_optimizer": False}  # fmt: skip
    engine = DeepSpeedEngine(
        model,
        settings,
        learning_rate=1e-2,
        max_grad_norm=1.0,
        accumulation_steps=args.accumulation,
    )
    if resume and not args.weights_only:
        engine.load(resume)
    initial = engine.state_dict_for_inference()
    data = batches(args.steps)
    share = BATCH // (world * args.accumulation)
    losses = []
    engine.train()
    for step in range(first, args.steps):
        total = torch.zeros(())
        for micro in range(args.accumulation):
            begin = (micro * world + rank) * share
            rows = data[step, begin : begin + share]
            loss = engine.ds(input_ids=rows, labels=rows).loss
            total += loss.detach() / args.accumulation
            engine.backward_and_step(loss)
        if world > 1:
            torch.distributed.all_reduce(total)
        losses.append(float(total) / world)
        if save_after and step + 1 == int(args.save_after[0]):
            folder = engine.save(save_after)
            if rank == 0:
                torch.save(step + 1, folder / "done_steps.pt")
    weights = engine.state_dict_for_inference()
    master = engine.state_dict()["fp32_master"]  # collective: on every rank
    if rank == 0:
        result = {"losses": losses, "initial": initial, "weights": weights, "steps": engine.steps,
                  "master": master}  # fmt: skip
        torch.save(result, args.out.format(stage=stage))
    engine.barrier()


if __name__ == "__main__":
    main()
