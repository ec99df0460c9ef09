"""A batching queue in front of an inference backend: concurrent requests share one forward pass.

Request threads put :class:`GenerationJob` s on a queue and wait on their future; one worker
thread (the only one that touches the model) takes the first waiting job, then every job that
is already queued or, while other requests are in flight, arrives within ``batch_wait_s``
(a lone client never waits), up to ``max_batch_size`` prompts, and runs
them as one ``backend.generate`` call per group of equal sampling settings (temperature, top-p).
Each job is then cut to its own token budget. ``max_batch_size=1`` turns batching off: one
request at a time, in arrival order.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..backends.base import Generation, InferenceBackend


@dataclass
class GenerationJob:
    """Prompts of one request and how to continue them; ``future`` gets one
    :class:`~turngym.agents.backends.base.Generation` per prompt."""

    prompts: list[list[int]]
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_logprobs: int = 0
    future: Future = field(default_factory=Future)


T = TypeVar("T")


@dataclass
class _Call(Generic[T]):
    work: Callable[[], T]
    future: Future = field(default_factory=Future)

    def run(self) -> None:
        try:
            self.future.set_result(self.work())
        except Exception as error:
            self.future.set_exception(error)


class BatchingGenerator:
    """Runs :class:`GenerationJob` s on ``backend`` in batches (see the module docstring).

    Attributes:
        batch_sizes: the number of prompts of every ``generate`` call so far (for tests and
            benchmarks).
    """

    def __init__(
        self, backend: InferenceBackend, max_batch_size: int = 16, batch_wait_s: float = 0.005
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.backend = backend
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.batch_sizes: list[int] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._in_flight = 0  # jobs submitted and not answered
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._serve, name="batching", daemon=True)
        self._worker.start()

    def generate(self, job: GenerationJob, timeout: float | None = None) -> list[Generation]:
        """Queue ``job`` and wait for its generations (re-raises the backend's error)."""
        with self._lock:
            self._in_flight += 1
        try:
            self._queue.put(job)
            return job.future.result(timeout)
        finally:
            with self._lock:
                self._in_flight -= 1

    def run_exclusive(self, work: Callable[[], T], timeout: float | None = None) -> T:
        """``work()`` run in the worker thread between batches (scoring on the same model)."""
        job = _Call(work)
        self._queue.put(job)
        return job.future.result(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if isinstance(job, _Call):
                job.run()
                continue
            batch, prompts = [job], len(job.prompts)
            stop = False
            while prompts < self.max_batch_size:
                others_in_flight = self._in_flight > len(batch)
                try:
                    more = self._queue.get(timeout=self.batch_wait_s if others_in_flight else 0)
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if isinstance(more, _Call):
                    more.run()
                    continue
                batch.append(more)
                prompts += len(more.prompts)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[GenerationJob]) -> None:
        groups: dict[tuple[float, float], list[GenerationJob]] = defaultdict(list)
        for job in batch:
            groups[(job.temperature, job.top_p)].append(job)
        for (temperature, top_p), jobs in groups.items():
            try:
                prompts = [p for job in jobs for p in job.prompts]
                self.batch_sizes.append(len(prompts))
                generations = self.backend.generate(
                    prompts,
                    max_new_tokens=max(job.max_new_tokens for job in jobs),
                    temperature=temperature,
                    top_p=top_p,
                    top_logprobs=max(job.top_logprobs for job in jobs),
                )
            except Exception as error:  # the requests fail, the server goes on
                for job in jobs:
                    job.future.set_exception(error)
                continue
            start = 0
            for job in jobs:
                mine = generations[start : start + len(job.prompts)]
                start += len(job.prompts)
                job.future.set_result([_cut(g, job.max_new_tokens, job.top_logprobs) for g in mine])


def _cut(generation: Generation, max_new_tokens: int, top_logprobs: int) -> Generation:
    """``generation`` within a job's own budget (a batch runs to its largest)."""
    ids = generation.token_ids[:max_new_tokens]
    reason = "length" if len(generation.token_ids) > max_new_tokens else generation.finish_reason
    top = None
    if generation.top_logprobs is not None and top_logprobs:
        top = [alts[:top_logprobs] for alts in generation.top_logprobs[:max_new_tokens]]
    return Generation(ids, generation.logprobs[:max_new_tokens], reason, top)
