"""EnvPool: in-process and worker pools agree; crashes, timeouts and exceptions stay contained.

Worker tests use ``turngym_test/Flaky-v0`` from ``slow_envs.py`` (next to this file), reached by
the ``"slow_envs:turngym_test/Flaky-v0"`` id so that spawned workers import it themselves.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from turngym.agents.env_pool import EnvPool, SlotResult

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import slow_envs  # noqa: E402

POOL_ID = slow_envs.POOL_ID
STARTUP_TIMEOUT = 120.0  # a worker imports torch before it answers its first command


@pytest.fixture(autouse=True)
def _workers_find_slow_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned workers import ``slow_envs`` by name: put this folder on their path."""
    monkeypatch.syspath_prepend(str(HERE))
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def collect(pool: EnvPool, count: int, timeout: float = STARTUP_TIMEOUT) -> dict[int, SlotResult]:
    """Poll until ``count`` results arrived (one per slot); fail after ``timeout`` seconds."""
    results: dict[int, SlotResult] = {}
    deadline = time.monotonic() + timeout
    while len(results) < count:
        assert time.monotonic() < deadline, f"only {sorted(results)} answered within {timeout}s"
        for result in pool.poll(timeout=0.5):
            assert result.slot not in results, f"slot {result.slot} answered twice"
            results[result.slot] = result
    return results


def one(pool: EnvPool, slot: int, command: str, payload, timeout: float = STARTUP_TIMEOUT):
    pool.submit(slot, command, payload)
    result = collect(pool, 1, timeout)[slot]
    return result


def reset_all(pool: EnvPool, task_ids: list[int]) -> dict[int, SlotResult]:
    for slot, task_id in enumerate(task_ids):
        pool.submit(slot, "reset", {"seed": slot, "options": {"task_id": task_id}})
    results = collect(pool, len(task_ids))
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    return results


def pid_of(pool: EnvPool, slot: int) -> int:
    result = one(pool, slot, "step", "pid")
    assert result.ok, result.error
    return int(result.value[0].split()[1])


@pytest.fixture(scope="module")
def shared_pool():
    """Two workers, four slots (slots 0 and 2 on worker 0, 1 and 3 on worker 1); no restarts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        pool = EnvPool(POOL_ID, num_slots=4, num_workers=2)
    yield pool
    pool.close()


# -- same results in-process and in workers ------------------------------------------------------
def drive(pool: EnvPool, rounds: int = 6) -> list:
    """Reset four slots, then step each with actions drawn by per-slot seeded RNGs."""
    trace = []
    resets = reset_all(pool, [3, 3, 11, 27])
    infos = {slot: result.value[1] for slot, result in resets.items()}
    trace.append(sorted((s, r.value[0], r.value[1]) for s, r in resets.items()))
    rngs = {slot: np.random.default_rng(100 + slot) for slot in infos}
    for round_ in range(rounds):
        for slot, info in infos.items():
            if round_ == 2 and slot == 1:
                action = "<<not a command>>"
            else:
                actions = info["admissible_actions"]
                action = actions[int(rngs[slot].integers(len(actions)))]
            pool.submit(slot, "step", action)
        results = collect(pool, len(infos))
        assert all(r.ok for r in results.values()), [r.error for r in results.values()]
        infos = {slot: result.value[4] for slot, result in results.items()}
        trace.append(sorted((s, *r.value) for s, r in results.items()))
    return trace


def test_workers_match_in_process(shared_pool: EnvPool) -> None:
    local = EnvPool(POOL_ID, num_slots=4, num_workers=0)
    expected = drive(local)
    local.close()
    assert drive(shared_pool) == expected
    assert shared_pool.restarts == 0
    # an invalid action came back as the environment's answer, not an error
    assert expected[3][1][1] == "Nothing happens." and expected[3][1][5]["invalid_action"]


# -- a slow environment delays only its own slot -------------------------------------------------
def test_slow_slot_does_not_stall_the_others(shared_pool: EnvPool) -> None:
    reset_all(shared_pool, [0, 1, 2, 3])
    shared_pool.submit(0, "step", "sleep 3")
    started = time.monotonic()
    fast_answers = 0
    for _ in range(3):  # slot 1 lives on the other worker
        shared_pool.submit(1, "step", "look")
        results = collect(shared_pool, 1, timeout=2.5)
        assert list(results) == [1] and results[1].ok
        fast_answers += 1
    assert time.monotonic() - started < 3.0, "fast results waited for the slow slot"
    assert shared_pool.in_flight == 1  # the sleeper is still pending
    slow = collect(shared_pool, 1, timeout=30)
    assert slow[0].ok and slow[0].value[0] == "Nothing happens."
    assert fast_answers == 3 and shared_pool.restarts == 0


# -- an exception inside env.step fails that command only ----------------------------------------
@pytest.mark.parametrize("num_workers", [0, 2])
def test_exception_fails_only_that_command(num_workers: int, shared_pool: EnvPool) -> None:
    pool = shared_pool if num_workers else EnvPool(POOL_ID, num_slots=4, num_workers=0)
    reset_all(pool, [0, 1, 2, 3])
    before = pid_of(pool, 0)
    pool.submit(0, "step", "raise")
    pool.submit(1, "step", "look")
    results = collect(pool, 2)
    assert not results[0].ok and results[0].value is None
    assert "Traceback" in results[0].error
    assert "RuntimeError: boom from FlakyHouseholdEnv._act" in results[0].error
    assert results[1].ok and results[1].value[0] == "Nothing happens."
    # the worker (and the slot's environment) keeps serving
    assert pid_of(pool, 0) == before
    assert pid_of(pool, 2) == before
    assert one(pool, 0, "reset", {"options": {"task_id": 5}}).ok
    assert pool.restarts == 0


@pytest.mark.parametrize("num_workers", [0, 2])
def test_exception_traceback_names_the_failing_frame(num_workers: int, shared_pool) -> None:
    """The error text must show where the environment raised, not only the pool's own frames."""
    pool = shared_pool if num_workers else EnvPool(POOL_ID, num_slots=4, num_workers=0)
    reset_all(pool, [0, 1])
    result = one(pool, 0, "step", "raise")
    assert not result.ok
    assert "in _act" in result.error and "slow_envs.py" in result.error, result.error


# -- a crashed worker is restarted ---------------------------------------------------------------
def test_crashed_worker_is_restarted() -> None:
    with EnvPool(POOL_ID, num_slots=4, num_workers=2) as pool:
        reset_all(pool, [0, 1, 2, 3])
        crashed_pid, other_pid = pid_of(pool, 0), pid_of(pool, 1)
        pool.submit(0, "step", "crash")
        pool.submit(1, "step", "look")
        results = collect(pool, 2)
        assert results[0].ok is False and results[0].value is None
        assert results[0].error and "died" in results[0].error
        assert results[1].ok and results[1].value[0] == "Nothing happens."
        assert pool.restarts == 1 and pool.in_flight == 0
        # the other worker never noticed
        assert pid_of(pool, 1) == other_pid and pid_of(pool, 3) == other_pid
        # slot 2 lived in the dead worker: its next step fails, a reset brings it back
        lost = one(pool, 2, "step", "look")
        assert not lost.ok and lost.error
        # the crashed slot resets and plays again, in a new process
        reset = one(pool, 0, "reset", {"seed": 0, "options": {"task_id": 0}})
        assert reset.ok and reset.value[0].startswith("-= Welcome to TurnGym Household! =-")
        new_pid = pid_of(pool, 0)
        assert new_pid != crashed_pid
        assert one(pool, 2, "reset", {"options": {"task_id": 2}}).ok
        assert pid_of(pool, 2) == new_pid
        assert pool.restarts == 1


def test_worker_death_is_noticed_once_and_earlier_answers_survive() -> None:
    with EnvPool(POOL_ID, num_slots=2, num_workers=1) as pool:
        reset_all(pool, [0, 1])
        # slot 1's answer was sent before the crash on slot 0: it still arrives
        pool.submit(1, "step", "look")
        pool.submit(0, "step", "crash")
        results = collect(pool, 2)
        assert results[1].ok and results[1].value[0] == "Nothing happens."
        assert not results[0].ok and pool.restarts == 1
        reset_all(pool, [0, 1])
        # the worker dies while nothing is being polled; the next submit finds it dead
        pool.submit(0, "step", "crash")
        pool._workers[0].join(timeout=30)  # test-only peek: wait until the process is gone
        pool.submit(1, "step", "look")
        results = collect(pool, 2)
        assert not results[0].ok and not results[1].ok
        assert pool.restarts == 2 and pool.in_flight == 0
        assert reset_all(pool, [0, 1])[1].value[0].startswith("-= Welcome")
        assert pool.restarts == 2


# -- a command past step_timeout fails and the worker restarts -----------------------------------
def test_step_timeout_restarts_the_worker() -> None:
    with EnvPool(POOL_ID, num_slots=2, num_workers=2) as pool:
        reset_all(pool, [0, 1])  # worker start-up (imports) is not what this test times
        slow_pid, other_pid = pid_of(pool, 0), pid_of(pool, 1)
        pool.step_timeout = 1.0
        started = time.monotonic()
        pool.submit(0, "step", "sleep 60")
        pool.submit(1, "step", "look")
        results = collect(pool, 2, timeout=30)
        assert results[1].ok
        assert not results[0].ok and "step_timeout" in results[0].error
        assert 1.0 <= time.monotonic() - started < 20
        assert pool.restarts == 1
        pool.step_timeout = STARTUP_TIMEOUT
        assert one(pool, 0, "reset", {"options": {"task_id": 4}}).ok
        assert pid_of(pool, 0) != slow_pid and pid_of(pool, 1) == other_pid
        assert pool.restarts == 1


# -- end to end: the rollout loop survives a crash -----------------------------------------------
@pytest.fixture
def tiny_agent(tiny_model_dir):  # tiny_model_dir: the session fixture of tests/conftest.py
    from turngym.agents import Agent, AgentConfig, make_backend

    backend = make_backend(name_or_path=tiny_model_dir)
    return Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=0)


def test_run_episodes_survives_a_crashing_episode(tiny_agent) -> None:
    from turngym.agents.rollout import group_episodes, run_episodes

    crash_task = 3
    specs = group_episodes([0, 1, 2, crash_task, 4, 5], group_size=1)
    with EnvPool(
        POOL_ID, {"crash_task_id": crash_task, "crash_at_step": 2}, num_slots=2, num_workers=2
    ) as pool:
        trajectories = run_episodes(tiny_agent, pool, specs)
        assert pool.restarts == 1
    assert [t.episode_id for t in trajectories] == [s.episode_id for s in specs]
    for spec, trajectory in zip(specs, trajectories, strict=True):
        assert trajectory.task_id == spec.task_id
        if spec.task_id == crash_task:
            assert trajectory.truncated and trajectory.error
            assert not trajectory.won and len(trajectory.turns) == 2
        else:
            assert trajectory.error is None, (spec, trajectory.error)
            assert trajectory.won or trajectory.truncated
            assert trajectory.final_observation
            assert 1 <= len(trajectory.turns) <= 15
            assert trajectory.won == (trajectory.turns[-1].reward == 1.0)


def test_episodes_lost_to_a_crash_are_counted_apart_from_failures(tiny_agent) -> None:
    """Evaluation and training metrics count lost episodes in env_errors and leave them out of
    every other figure; an environment that fails to reset stops the run instead."""
    from turngym.agents.rollout import EnvStartError, group_episodes, run_episodes
    from turngym.algos.evaluate import evaluate_agent
    from turngym.algos.metrics import rollout_metrics

    crash_task = 2
    with EnvPool(
        POOL_ID, {"crash_task_id": crash_task, "crash_at_step": 1}, num_slots=2, num_workers=2
    ) as pool:
        report, trajectories = evaluate_agent(tiny_agent, pool, [0, 1, crash_task, 3])
        metrics = rollout_metrics(run_episodes(tiny_agent, pool, group_episodes([crash_task], 2)))
    finished = [t for t in trajectories if t.error is None]
    assert report.env_errors == 1 and report.episodes == 3 == len(finished)
    assert report.success_rate == sum(t.won for t in finished) / 3
    assert metrics["rollout/env_errors"] == 2 and metrics["rollout/episodes"] == 0
    with (
        EnvPool(POOL_ID, {}, num_slots=2) as pool,
        pytest.raises(EnvStartError, match="task_id=-1"),
    ):
        run_episodes(tiny_agent, pool, group_episodes([-1], 1))
