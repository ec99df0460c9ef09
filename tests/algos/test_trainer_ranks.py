"""The on-policy trainer on 2 ranks (DeepSpeed ZeRO-2, gloo, launched by ``torchrun``): each rank
rolls out whole groups of its own, rank 0 writes the run, and the checkpoint resumes on 1 rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from turngym.agents.trajectory import load_trajectories
from turngym.algos.metrics import read_metrics

pytest.importorskip("deepspeed", reason="the [deepspeed] extra is not installed")

pytestmark = pytest.mark.slow  # one 2-rank run and one 1-rank resume: about a minute

TASKS, GROUP = 4, 3
RUN = [
    f"rollout.tasks_per_iteration={TASKS}", f"rollout.group_size={GROUP}", "agent.mode=choose",
    "algo.minibatch_size=16", "algo.epochs=1", "env.max_episode_steps=4", "train.eval_every=0",
    "train.eval_episodes=4", "train.progress=false", "train.checkpoint_every=1",
    "train.save_trajectories=true", "engine.kind=deepspeed",
    "engine.deepspeed={zero_optimization: {stage: 2}}",
]  # fmt: skip


def turngym_train(ranks: int, *overrides: str) -> None:
    launcher = [sys.executable, "-m"]
    if ranks > 1:
        launcher += ["torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}", "-m"]
    command = [*launcher, "turngym.cli", "train", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}{done.stderr[-5000:]}"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranks")
    config = tmp_path_factory.mktemp("config") / "run.yaml"
    config.write_text("{}\n")
    turngym_train(2, str(config), *RUN, "train.iterations=2", f"train.output_dir={folder}")
    return config, folder


def test_each_rank_rolls_out_whole_groups_of_its_own(run):
    _, folder = run
    for iteration in (1, 2):
        name = f"iter_{iteration:05d}.parquet"
        ranks = [load_trajectories(folder / "trajectories" / name),
                 load_trajectories(folder / "ranks" / "rank1" / "trajectories" / name)]  # fmt: skip
        groups = [{t.group_id for t in trajectories} for trajectories in ranks]
        assert not groups[0] & groups[1]  # no group on two ranks
        assert groups[0] | groups[1] == {f"{iteration - 1}-{n}" for n in range(TASKS)}
        assert groups[0] == {f"{iteration - 1}-{n}" for n in range(0, TASKS, 2)}  # 0, 2 / 1, 3
        for trajectories in ranks:
            assert len(trajectories) == TASKS // 2 * GROUP  # every member of its groups


def test_rank_zero_writes_the_run_and_a_loadable_checkpoint(run):
    from transformers import AutoModelForCausalLM

    _, folder = run
    rows = [r for r in read_metrics(folder / "metrics.jsonl") if "rollout/episodes" in r]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(r["rollout/episodes"] == TASKS // 2 * GROUP for r in rows)  # rank 0's share
    after = json.loads((folder / "result.json").read_text())["after"]
    assert after["episodes"] + after["env_errors"] == 4  # both ranks' halves of the evaluation
    checkpoint = folder / "checkpoints" / "iter_00002"
    for name in ("model.safetensors", "tokenizer.json", "trainer_state.pt", "engine_state.pt"):
        assert (checkpoint / name).exists()
    assert AutoModelForCausalLM.from_pretrained(checkpoint).config.model_type == "qwen2"
    assert len(read_metrics(folder / "ranks" / "rank1" / "metrics.jsonl")) >= 2


def test_a_two_rank_checkpoint_resumes_on_one(run):
    config, folder = run
    turngym_train(1, str(config), *RUN, "train.iterations=3", f"train.output_dir={folder}",
                  "train.resume=true")  # fmt: skip
    rows = [r for r in read_metrics(folder / "metrics.jsonl") if "rollout/episodes" in r]
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert rows[-1]["rollout/episodes"] == TASKS * GROUP  # one rank rolls out every group
