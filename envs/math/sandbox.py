"""A Python sandbox for tool calls: each call runs in a fresh, locked-down process.

``PythonSandbox().run(code)`` starts ``python -I -S -B`` on :mod:`.sandbox_runner` in a new
session, with an empty environment (``PATH`` and thread counts only), its working directory a
fresh temporary folder (deleted afterwards), and the code on standard input. The runner locks
itself down before the code runs (resource limits, a seccomp filter, an audit hook; see its
docstring) and the parent enforces a wall-clock limit (the whole process group is killed). The
output (standard output and error together) comes back truncated to ``max_output_chars``, with a
line saying why the run stopped when it did not end normally. The sandbox itself never raises
on what the code does: every failure is a message for the agent, and the next call starts clean.

Threat model and its limits (see the README): the sandbox is meant for code an RL policy writes
by accident or by reward hacking (reading the gold answers or the host's files, printing
forever, filling memory or disk, fork bombs, network calls, killing the trainer), on a machine
where turngym may run as root. It stacks independent layers: rlimits (CPU, memory, file size),
seccomp (no new processes, no sockets, no exec, no signals to others: enforced by the kernel,
whatever the code does in Python), an audit hook (file access by path: seccomp cannot see
paths) and a clean environment. It is *not* a boundary against a determined attacker with a
memory-corruption exploit of CPython, which could bypass the audit hook (the seccomp layer still
holds then, but file reads by path would not): for that, run the trainer in a container or VM
without secrets, or use gVisor/nsjail.
"""

from __future__ import annotations

import functools
import marshal
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).with_name("sandbox_runner.py")


@dataclass(frozen=True)
class SandboxLimits:
    """What one tool call may use."""

    cpu_seconds: int = 5  # RLIMIT_CPU: then SIGXCPU
    wall_seconds: float = 10.0  # the parent kills the process group after this
    memory_bytes: int = 1 << 30  # RLIMIT_AS: allocations past it raise MemoryError
    file_bytes: int = 16 << 20  # RLIMIT_FSIZE: output and files written
    max_output_chars: int = 2000  # what the agent is shown


@dataclass(frozen=True)
class ToolResult:
    """One call's outcome: what the agent sees (``output``) and how the run ended."""

    output: str
    ok: bool  # ended normally, no uncaught exception
    reason: str  # ok, error, cpu limit, wall limit, file size limit, killed by signal N
    seconds: float


@functools.cache
def _seccomp_libraries() -> dict[str, str] | None:
    """The C library and libseccomp as ``ctypes.util.find_library`` names them (found once), or
    ``None`` when ``pyseccomp`` or the system's ``libseccomp.so.2`` is missing."""
    try:
        import ctypes.util

        import pyseccomp  # noqa: F401
    except (ImportError, OSError):
        return None
    return {"c": ctypes.util.find_library("c"), "seccomp": ctypes.util.find_library("seccomp")}


def _seccomp_available() -> bool:
    return _seccomp_libraries() is not None


class PythonSandbox:
    """Runs Python code in a fresh locked-down process per call (see the module docstring).

    Args:
        limits: CPU, wall-clock, memory, file-size and output limits.
        seccomp: install the seccomp layer (``None``: when ``pyseccomp`` and libseccomp load).
        audit_hook: install the audit-hook layer (tests turn one layer off to try the other).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        seccomp: bool | None = None,
        audit_hook: bool = True,
    ):
        self.limits = limits or SandboxLimits()
        self.seccomp = _seccomp_available() if seccomp is None else seccomp
        self.audit_hook = audit_hook
        paths = sysconfig.get_paths()
        self.import_paths = sorted({paths["purelib"], paths["platlib"]})
        if self.seccomp:
            import pyseccomp

            self.import_paths.append(str(Path(pyseccomp.__file__).parent))
        self.read_roots = sorted({paths["stdlib"], paths["platstdlib"], *self.import_paths})

    def run(self, code: str) -> ToolResult:
        limits = self.limits
        work = tempfile.mkdtemp(prefix="turngym-sandbox-")
        start = time.perf_counter()
        try:
            config = {
                "work_dir": work,
                "read_roots": self.read_roots,
                "import_paths": self.import_paths,
                "cpu_seconds": limits.cpu_seconds,
                "memory_bytes": limits.memory_bytes,
                "file_bytes": limits.file_bytes,
                "seccomp": self.seccomp,
                "audit_hook": self.audit_hook,
                "libraries": _seccomp_libraries() or {},
            }
            output_path = os.path.join(work, ".output")
            with open(output_path, "wb") as output:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-B", str(RUNNER), marshal.dumps(config).hex()],
                    stdin=subprocess.PIPE,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=work,
                    env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1",
                         "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"},
                    start_new_session=True,  # its own process group, killed as a whole
                    close_fds=True,
                )  # fmt: skip
                reason = self._wait(process, code)
            if reason != "ok" and os.path.getsize(output_path) >= limits.file_bytes:
                reason = f"output size limit ({limits.file_bytes} bytes)"  # writes got EFBIG
            with open(output_path, "rb") as output:
                text = output.read(limits.max_output_chars * 4 + 1).decode("utf-8", "replace")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        shown = text[: limits.max_output_chars]
        if len(text) > limits.max_output_chars:
            shown += f"\n[output truncated to {limits.max_output_chars} characters]"
        if reason == "ok" and "Traceback (most recent call last):" in text:
            reason = "error"
        if reason not in ("ok", "error"):
            shown += f"\n[stopped: {reason}]"
        return ToolResult(shown.strip() or "(no output)", reason == "ok", reason,
                          time.perf_counter() - start)  # fmt: skip

    def _wait(self, process: subprocess.Popen, code: str) -> str:
        try:
            process.communicate(code.encode("utf-8", "replace"), timeout=self.limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return f"wall-clock limit ({self.limits.wall_seconds:g} s)"
        finally:
            _kill_group(process)  # anything it left behind in its group
        code_ = process.returncode
        if code_ == 0:
            return "ok"
        if code_ in (-signal.SIGXCPU, -signal.SIGKILL):  # SIGKILL: the hard CPU limit
            return f"CPU time limit ({self.limits.cpu_seconds} s)"
        if code_ == -signal.SIGXFSZ:
            return f"file size limit ({self.limits.file_bytes} bytes)"
        if code_ < 0:
            return f"killed by signal {signal.Signals(-code_).name}"
        return f"exit code {code_}"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
