"""A pool of worker processes that verify math answers, each item under its own timeout.

math-verify's timeouts need ``signal.alarm``, which works only in a process's main thread, so
verification runs in worker processes (``spawn``: safe beside a parent with threads, as a
trainer has). Each worker verifies items one by one in its main thread, each under an alarm
(:func:`~turngym.common.math.verifier.verify_item`), and reports every result as soon as it has
it. The parent also watches the clock: a worker that shows no progress for ``timeout +
grace`` seconds (stuck in C code, where no alarm fires) is killed and replaced; the item it was
on scores 0 as a timeout and the rest of its chunk goes to another worker. Either way one
pathological expression never blocks the batch, and :attr:`VerifierPool.timeouts` counts them.

The workers start on the first :meth:`~VerifierPool.verify` call, in the process that calls it.

Example:
    >>> with VerifierPool(num_workers=2) as pool:
    ...     verdicts = pool.verify([VerifyItem("#### 4", "4"), VerifyItem("#### 5", "4")])
    >>> [v.score for v in verdicts]
    [1.0, 0.0]
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

from .verifier import DEFAULT_TIMEOUT, Verdict, VerifyItem, verify_item, warm_up

_STOP = None


def _worker_main(connection: Connection, timeout: float) -> None:
    """Verify chunks of (index, item) pairs; send (index, verdict) for each, then ``None``."""
    warm_up()  # import math-verify and sympy before any alarm can fire
    connection.send("ready")
    while True:
        chunk = connection.recv()
        if chunk is _STOP:
            return
        for index, item in chunk:
            try:
                verdict = verify_item(item, timeout)
            except Exception as error:  # a malformed item scores 0 with its error
                verdict = Verdict(0.0, f"error: {type(error).__name__}: {error}")
            connection.send((index, verdict))
        connection.send(None)


class _Worker:
    def __init__(self, context, timeout: float):  # noqa: ANN001 (a multiprocessing context)
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, timeout), daemon=True)
        self.process.start()
        child.close()
        self.chunk: deque = deque()
        self.last_progress = time.monotonic()
        self.ready = False

    def give(self, chunk: list) -> None:
        self.chunk = deque(chunk)
        self.last_progress = time.monotonic()
        self.connection.send(chunk)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.connection.close()


class VerifierPool:
    """Verifies batches of :class:`VerifyItem` in ``num_workers`` processes.

    Args:
        num_workers: worker processes.
        timeout: seconds per item (the alarm in the worker); a timeout scores 0 and is counted.
        grace: extra seconds the parent waits for a worker's next result before killing it.
        chunk_size: items sent to a worker at once (fewer messages; results still stream back).
    """

    def __init__(
        self,
        num_workers: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        grace: float = 5.0,
        chunk_size: int = 16,
    ):
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        if timeout <= 0 or grace <= 0 or chunk_size < 1:
            raise ValueError("timeout and grace must be > 0 s and chunk_size >= 1")
        self.num_workers, self.timeout, self.grace = num_workers, timeout, grace
        self.chunk_size = chunk_size
        self.timeouts = 0  # items that scored 0 because time ran out (alarm or killed worker)
        self.restarts = 0  # workers killed and replaced
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def start(self) -> None:
        """Start the workers now (else the first :meth:`verify` does) and wait until ready."""
        for index, worker in enumerate(self._workers):
            if not worker.process.is_alive():  # died between batches
                worker.kill()
                self._workers[index] = _Worker(self._context, self.timeout)
                self.restarts += 1
        while len(self._workers) < self.num_workers:
            self._workers.append(_Worker(self._context, self.timeout))
        for worker in self._workers:
            self._wait_ready(worker)

    def _wait_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        if not worker.connection.poll(120):
            raise RuntimeError("a verifier worker did not start within 120 s")
        try:
            message = worker.connection.recv()
        except EOFError:
            message = f"nothing (it exited with code {worker.process.exitcode})"
        if message != "ready":
            raise RuntimeError(f"a verifier worker sent {message!r} instead of 'ready'")
        worker.ready = True

    def verify(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        """One verdict per item, in order."""
        if not items:
            return []
        self.start()
        results: list[Verdict | None] = [None] * len(items)
        pending = deque(
            list(enumerate(items))[i : i + self.chunk_size]
            for i in range(0, len(items), self.chunk_size)
        )
        busy: dict[Connection, _Worker] = {}
        while pending or busy:
            for worker in self._workers:
                if pending and worker.ready and worker.connection not in busy:
                    worker.give(pending.popleft())
                    busy[worker.connection] = worker
            starting = {w.connection: w for w in self._workers if not w.ready}
            for connection in wait([*busy, *starting], timeout=0.5):
                worker = busy.get(connection) or starting[connection]
                try:
                    message = connection.recv()
                except (EOFError, OSError):  # the worker died (e.g. out of memory)
                    self._replace(worker, results, pending, busy, "worker died")
                    continue
                if message == "ready":
                    worker.ready = True
                elif message is None:
                    del busy[connection]
                else:
                    index, verdict = message
                    results[index] = verdict
                    self.timeouts += verdict.timed_out
                    worker.chunk.popleft()
                    worker.last_progress = time.monotonic()
            now = time.monotonic()
            for worker in list(busy.values()):
                if now - worker.last_progress > self.timeout + self.grace:
                    self._replace(worker, results, pending, busy, "timeout (worker killed)")
        return results  # type: ignore[return-value]

    def _replace(self, worker, results, pending, busy, reason: str) -> None:  # noqa: ANN001
        """Kill ``worker``; its current item scores 0; the rest of its chunk goes back."""
        busy.pop(worker.connection, None)
        worker.kill()
        self.restarts += 1
        if worker.chunk:
            index, _ = worker.chunk.popleft()
            results[index] = Verdict(0.0, reason, timed_out=reason.startswith("timeout"))
            if reason.startswith("timeout"):
                self.timeouts += 1
            if worker.chunk:
                pending.appendleft(list(worker.chunk))
        replacement = _Worker(self._context, self.timeout)
        self._workers[self._workers.index(worker)] = replacement

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.connection.send(_STOP)
            except (BrokenPipeError, OSError):
                pass
        for worker in self._workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(2)
            worker.connection.close()
        self._workers = []

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_thread_pool: VerifierPool | None = None


def verify_anywhere(item: VerifyItem, timeout: float = DEFAULT_TIMEOUT) -> Verdict:
    """Verify one item from any thread: directly under an alarm in a main thread, else through a
    one-worker :class:`VerifierPool` started in this process on first need."""
    import threading

    if threading.current_thread() is threading.main_thread():
        return verify_item(item, timeout)
    global _thread_pool
    if _thread_pool is None or _thread_pool.timeout != timeout:
        _thread_pool = VerifierPool(num_workers=1, timeout=timeout)
    return _thread_pool.verify([item])[0]
