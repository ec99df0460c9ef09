"""Environments in worker processes, stepped asynchronously, surviving crashes.

An :class:`EnvPool` holds ``num_slots`` environments. With ``num_workers=0`` they live in this
process (cheapest for fast environments); otherwise slot ``s`` lives in worker ``s % num_workers``.
Commands are submitted per slot and their results collected with :meth:`EnvPool.poll` as they
finish, so a slow environment delays only its own episode.

If a worker dies or a command exceeds ``step_timeout`` seconds, the worker is killed and
restarted; every slot it hosted answers its pending (or next) command with a failed
:class:`SlotResult` marked ``lost`` instead of a value, so the caller can count the episode as
lost to an environment error. An exception raised inside an environment fails that command
only (``ok=False``, ``lost=False``, the traceback in ``error``).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import gymnasium as gym

from turngym.envs.worker import READY, STARTUP_FAILED, format_error, run_command, serve


@dataclass
class SlotResult:
    slot: int
    ok: bool
    value: Any = None  # reset: (obs, info); step: (obs, reward, terminated, truncated, info)
    error: str | None = None  # the environment's traceback, or why its worker was lost
    lost: bool = False  # the worker died or timed out (not an exception in the environment)


class EnvPool:
    """``num_slots`` environments of one id, in this process or in ``num_workers`` workers."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        num_slots: int = 8,
        num_workers: int = 0,
        step_timeout: float = 300.0,
        startup_timeout: float = 120.0,
        imports: Sequence[str] = (),
        expert: bool = False,
    ):
        """``imports``: modules that register ``env_id`` (a user's own environments), imported
        by each worker before it makes an environment. ``expert``: every answer's info carries
        the environment's next expert move (``info["expert_action"]``), asked in the worker."""
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.imports = tuple(imports)
        self.expert = expert
        self.num_slots = num_slots
        self.num_workers = num_workers
        self.step_timeout = step_timeout
        self.startup_timeout = startup_timeout
        self.restarts = 0
        self._local_envs: dict[int, gym.Env] = {}
        self._done: list[SlotResult] = []
        self._in_flight: dict[int, float] = {}  # slot -> time submitted
        self._lost: set[int] = set()  # slots whose environment died with its worker
        self._context = mp.get_context("spawn")
        self._workers: list[mp.Process | None] = [None] * num_workers
        self._connections: list[Connection | None] = [None] * num_workers
        for index in range(num_workers):
            self._start_worker(index)
        for index in range(num_workers):
            self._await_ready(index)

    # -- public --------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def submit(self, slot: int, command: str, payload: Any) -> None:
        """Queue ``reset`` (payload: reset kwargs) or ``step`` (payload: the action) on a slot."""
        if slot in self._in_flight:
            raise RuntimeError(f"slot {slot} already has a command in flight")
        if command == "reset":
            self._lost.discard(slot)
        elif slot in self._lost:
            self._done.append(
                SlotResult(slot, False, error="environment lost in a worker crash", lost=True)
            )
            return
        if self.num_workers == 0:
            try:
                value = run_command(
                    self._local_envs,
                    slot,
                    command,
                    payload,
                    self.env_id,
                    self.env_kwargs,
                    self.expert,
                )
                self._done.append(SlotResult(slot, True, value))
            except Exception:
                self._done.append(SlotResult(slot, False, error=format_error()))
            return
        worker = slot % self.num_workers
        try:
            self._connections[worker].send((slot, command, payload))
        except (BrokenPipeError, EOFError, OSError):
            self._in_flight[slot] = time.monotonic()
            self._restart(worker, "worker process died")
            return
        self._in_flight[slot] = time.monotonic()

    def poll(self, timeout: float | None = 0.0) -> list[SlotResult]:
        """Results finished so far; waits up to ``timeout`` seconds for the first one."""
        if self.num_workers and not self._done and self._in_flight:
            self._receive(timeout)
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        for env in self._local_envs.values():
            env.close()
        for index, process in enumerate(self._workers):
            if process is None:
                continue
            try:
                self._connections[index].send(None)
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self._workers = [None] * self.num_workers

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- workers -------------------------------------------------------------------------------
    def _start_worker(self, index: int) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=serve,
            args=(child, self.env_id, self.env_kwargs, self.imports, self.expert),
            daemon=True,
        )
        process.start()
        child.close()
        self._workers[index] = process
        self._connections[index] = parent

    def _await_ready(self, index: int) -> None:
        """Wait for a new worker's hello, so start-up time is not charged to a step's timeout."""
        connection = self._connections[index]
        hello = None
        try:
            if connection.poll(self.startup_timeout):
                hello = connection.recv()
        except (EOFError, OSError):
            pass
        if hello == READY:
            return
        if isinstance(hello, tuple) and hello[0] == STARTUP_FAILED:
            raise RuntimeError(
                f"environment worker for {self.env_id!r} failed to start: {hello[1]}"
            )
        raise RuntimeError(
            f"environment worker {index} for {self.env_id!r} did not start within "
            f"startup_timeout={self.startup_timeout}s"
        )

    def _receive(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done and self._in_flight:
            oldest = min(self._in_flight.values())
            wait_for = oldest + self.step_timeout - time.monotonic()
            if deadline is not None:
                wait_for = min(wait_for, deadline - time.monotonic())
            busy = {slot % self.num_workers for slot in self._in_flight}
            ready = wait([self._connections[w] for w in busy], timeout=max(wait_for, 0.0))
            for connection in ready:
                worker = self._connections.index(connection)
                try:
                    while connection.poll():
                        slot, ok, value, error = connection.recv()
                        self._in_flight.pop(slot, None)
                        self._done.append(SlotResult(slot, ok, value, error))
                except (EOFError, OSError):
                    self._restart(worker, "worker process died")
            now = time.monotonic()
            for worker in {
                s % self.num_workers
                for s, t in self._in_flight.items()
                if now - t > self.step_timeout
            }:
                self._restart(worker, f"no answer within step_timeout={self.step_timeout}s")
            if deadline is not None and time.monotonic() >= deadline:
                break

    def _restart(self, worker: int, reason: str) -> None:
        process = self._workers[worker]
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            process.join(timeout=5)
        self._connections[worker].close()
        self.restarts += 1
        for slot in range(worker, self.num_slots, self.num_workers):
            if slot in self._in_flight:
                del self._in_flight[slot]
                self._done.append(SlotResult(slot, False, error=reason, lost=True))
            else:
                self._lost.add(slot)
        self._start_worker(worker)
        self._await_ready(worker)
