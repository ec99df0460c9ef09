"""Real data from ``../shared/data`` (relative to the repository root), prepared once per cache.

The unpacked ALFWorld split lives in ``$TURNGYM_CACHE/alfworld`` (default
``~/.cache/turngym/alfworld``); tests that need it skip with the reason when the archive is absent.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ALFWORLD_ARCHIVE = SHARED_DATA / "alfworld/json_2.1.1-train-valid_seen-valid_train.tar.xz"
ALFWORLD_SPLIT = "valid_seen"


def cache_root() -> Path:
    base = os.environ.get("TURNGYM_CACHE")
    return Path(base) if base else Path("~/.cache/turngym").expanduser()


def unpack_alfworld_split(split: str = ALFWORLD_SPLIT) -> Path:
    """Unpack one split once (a marker file says it is complete); its ``data_dir``."""
    target = cache_root() / "alfworld" / ALFWORLD_ARCHIVE.name.removesuffix(".tar.xz")
    marker = target / f".{split}-complete"
    if marker.exists():
        return target
    prefix = f"json_2.1.1/{split}/"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=target.parent))
    try:
        with tarfile.open(ALFWORLD_ARCHIVE) as archive:
            members = [m for m in archive if m.name.startswith(prefix)]
            archive.extractall(staging, members=members, filter="data")
        (target / "json_2.1.1").mkdir(parents=True, exist_ok=True)
        destination = target / "json_2.1.1" / split
        try:
            os.replace(staging / "json_2.1.1" / split, destination)
        except OSError:  # another process unpacked it first
            if not destination.is_dir():
                raise
        marker.touch()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
