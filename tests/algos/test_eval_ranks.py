"""Evaluation on several ranks: each plays its share of the held-out episodes and every rank
reports on all of them (2 processes, gloo, the tiny model on Household)."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch.multiprocessing as mp

TASKS = list(range(100, 107))  # 7 episodes: ranks of 4 and 3


def evaluate_on_rank(rank: int, world: int, port: int, model_dir: str, out: str) -> None:
    import torch.distributed as dist

    from turngym.agents import Agent, AgentConfig, EnvPool, make_backend
    from turngym.algos.evaluate import evaluate_agent

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)  # fmt: skip
    backend = make_backend(name_or_path=model_dir)
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=rank)
    with EnvPool("turngym/Household-v0", {"max_episode_steps": 3}, num_slots=4) as pool:
        report, played = evaluate_agent(agent, pool, TASKS, seed=5, ranks=(rank, world))
    row = {"report": report.to_dict(), "played": [[t.episode_id, t.task_id] for t in played]}
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump(row, f)
    dist.barrier()  # both ranks are done with the group
    # leave without tearing gloo down: a rank whose peer closed the connections first can abort
    # in gloo's teardown ("terminate called without an active exception", seen once in CI)
    os._exit(0)


@pytest.mark.slow  # two processes that each load torch and the tiny model: ~30 s
def test_each_rank_plays_its_share_and_all_report_on_every_episode(tiny_model_dir, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(evaluate_on_rank, args=(2, port, str(tiny_model_dir), str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["played"] == [[f"eval-{i}", TASKS[i]] for i in (0, 2, 4, 6)]
    assert ranks[1]["played"] == [[f"eval-{i}", TASKS[i]] for i in (1, 3, 5)]
    assert ranks[0]["report"] == ranks[1]["report"]
    assert ranks[0]["report"]["episodes"] + ranks[0]["report"]["env_errors"] == len(TASKS)
