"""Run folders and the checkpoints in them: one run per ``train.output_dir``, never two mixed.

A run writes ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/iter_NNNNN/`` and
``result.json`` into its folder. Starting a run in a folder that already holds one would append
to the old metrics and leave the old run's later checkpoints where ``resume`` looks, so
:func:`prepare_run_folder` refuses unless the run resumes or is told to overwrite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

STATE_FILE = "trainer_state.pt"  # the loop's own state (iteration, evaluations, critic, ...)
METRICS_FILE = "training_metrics.json"  # what a finished offline or preference run measured
CHECKPOINTS = "checkpoints"
#: what an interrupted run leaves before its first checkpoint (cleared when it resumes)
RUN_LOGS = ("metrics.jsonl", "tensorboard")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (one line, naming the folder and the way out)."""


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest ``checkpoints/iter_*`` folder of a run that holds trainer state."""
    found = sorted(Path(output_dir, CHECKPOINTS).glob(f"iter_*/{STATE_FILE}"))
    return found[-1].parent if found else None


def checkpoint_folder(output_dir: str | Path, iteration: int) -> Path:
    return Path(output_dir, CHECKPOINTS, f"iter_{iteration:05d}")


def check_resume_folder(folder: str | Path) -> Path:
    """``folder`` if it is a checkpoint with trainer state, else :class:`RunFolderError`."""
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise RunFolderError(
            f"train.resume={str(folder)!r} is not a checkpoint: no {STATE_FILE} in it (give a "
            f"checkpoints/iter_NNNNN folder of a run, or true for the run's latest)"
        )
    return folder


def prepare_run_folder(
    output_dir: str | Path, resume: bool | str, overwrite: bool, section: str = "train"
) -> Path | None:
    """Make ``output_dir`` ready for a run; the checkpoint to resume from (None: a new run).

    - ``resume`` a folder: that checkpoint. ``resume=True``: the folder's latest checkpoint; if
      it has none (a run interrupted before its first), its logs are cleared and the run starts
      over.
    - ``resume=False``: the folder must be absent or empty, or ``overwrite`` clears it first.

    ``section``: the config block holding ``output_dir``, ``resume`` and ``overwrite``, named in
    the messages.
    """
    output_dir = Path(output_dir)
    if resume is not False and resume is not True:
        return check_resume_folder(resume)
    if resume is True:
        latest = latest_checkpoint(output_dir)
        if latest is None:
            for name in RUN_LOGS:
                _remove(output_dir / name)
        return latest
    if output_dir.is_file():
        raise RunFolderError(f"{section}.output_dir={str(output_dir)!r} is a file, not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise RunFolderError(
                f"{section}.output_dir={str(output_dir)!r} already holds a run; resume it with "
                f"{section}.resume=true, choose another folder, or clear it with "
                f"{section}.overwrite=true"
            )
        for entry in output_dir.iterdir():
            _remove(entry)
    output_dir.mkdir(parents=True, exist_ok=True)
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
