"""bench/gpu_check.py on a machine without a GPU: a clear message and status 2, nothing else."""

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
