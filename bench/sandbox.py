"""The Python tool's sandbox: tool calls per second and the start-up cost of one call, beside a
plain ``subprocess.run([python, "-c", code])`` (no limits, no seccomp, no audit hook) measured
in the same run. Each call runs in a fresh process in both cases.

    OMP_NUM_THREADS=1 python bench/sandbox.py [--calls 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from turngym.envs.math.sandbox import PythonSandbox

PROGRAMS = {
    "print(2 + 2)": "print(2 + 2)",
    "sum of squares to 10^5": "print(sum(i * i for i in range(10**5)))",
    "import sympy; factor": "import sympy; print(sympy.factorint(2**32 + 1))",
}


def rate(run, code: str, calls: int) -> float:
    run(code)  # warm the page cache
    start = time.perf_counter()
    for _ in range(calls):
        run(code)
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    sandbox = PythonSandbox()
    print(f"seccomp layer: {'on' if sandbox.seccomp else 'off (pyseccomp/libseccomp missing)'}")

    def plain(code: str) -> None:
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)

    def sandboxed(code: str) -> None:
        result = sandbox.run(code)
        assert result.ok, result.output

    print(f"{'program':26} {'sandbox calls/s':>16} {'plain calls/s':>14} {'ms/call (ours)':>15} "
          f"{'sandbox/plain':>14}")  # fmt: skip
    for name, code in PROGRAMS.items():
        ours, reference = rate(sandboxed, code, args.calls), rate(plain, code, args.calls)
        print(f"{name:26} {ours:16.1f} {reference:14.1f} {1000 / ours:15.1f} "
              f"{ours / reference:14.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
