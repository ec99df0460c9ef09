"""Math problems: the :class:`Problem` record and the sources environments draw them from.

A source maps a task id to a problem. Files (:func:`load_problems`) hold a fixed list (task id =
row index); generators (:mod:`.generators`) make a problem from any task id, seeded by it.
:func:`make_problem_source` builds either from the keyword arguments environments and scorers
take (``source=...``), so an environment and the ``math`` scorer read the same problems.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Problem:
    """One problem: the question, its gold answer, and (if known) a worked solution.

    ``checker`` says how answers are compared (``math``, or ``countdown`` with ``numbers``).
    """

    question: str
    answer: str
    solution: str = ""
    checker: str = "math"
    numbers: tuple[int, ...] = ()
    kind: str = ""  # task type: gsm8k, math500/<subject>, arithmetic, ...
    level: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class ProblemSource(Protocol):
    """Task id -> problem; ``num_tasks`` is ``None`` for generators (any id >= 0)."""

    num_tasks: int | None

    def problem(self, task_id: int) -> Problem: ...


class ProblemList:
    """A fixed list of problems; task id = index."""

    def __init__(self, problems: list[Problem], name: str = "problems"):
        if not problems:
            raise ValueError(f"{name} holds no problems")
        self.problems, self.name = problems, name
        self.num_tasks = len(problems)

    def problem(self, task_id: int) -> Problem:
        return self.problems[task_id]


# -- files ---------------------------------------------------------------------------------------
class DatasetError(ValueError):
    """A malformed data file: the message names the file and the line (or row)."""


def gsm8k_problem(row: dict[str, Any]) -> Problem:
    """A GSM8K row ``{question, answer}``: the gold is what follows ``####``."""
    question, answer = row["question"], row["answer"]
    if not isinstance(question, str) or not isinstance(answer, str) or "####" not in answer:
        raise ValueError("needs string 'question' and 'answer', the answer ending in '#### N'")
    gold = answer.rsplit("####", 1)[1].strip()
    if not gold:
        raise ValueError("the answer has nothing after '####'")
    return Problem(question, gold, solution=answer, kind="gsm8k")


def math_problem(row: dict[str, Any]) -> Problem:
    """A MATH-style row ``{problem, solution, answer[, subject, level]}``; without ``answer``
    the gold is the solution's last ``\\boxed{}``."""
    from .answers import boxed_contents

    question, solution = row["problem"], row.get("solution", "")
    answer = row.get("answer")
    if answer is None and isinstance(solution, str) and boxed_contents(solution):
        answer = boxed_contents(solution)[-1]
    if not isinstance(question, str) or not isinstance(answer, str) or not answer.strip():
        raise ValueError("needs string 'problem' and 'answer' (or a solution with \\boxed{})")
    subject = row.get("subject") or row.get("type") or ""
    level = row.get("level")
    if isinstance(level, str):  # "Level 3" in the original MATH files
        level = int(level.split()[-1]) if level.split()[-1].isdigit() else None
    return Problem(question, answer.strip(), solution or "", kind=f"math/{subject}".rstrip("/"),
                   level=level)  # fmt: skip


ROW_READERS = {"gsm8k": gsm8k_problem, "math": math_problem}


def _detect_style(row: dict[str, Any]) -> str:
    return "gsm8k" if "question" in row else "math"


def read_rows(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """(where, row) of a JSONL or Parquet file; ``where`` names the file and line/row."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as error:
            raise DatasetError(f"{path}: not a readable Parquet file ({error})") from None
        for index, row in enumerate(table.to_pylist()):
            yield f"{path}, row {index}", row
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}, line {number}: a row must be a JSON object")
            yield f"{path}, line {number}", row


def load_problems(path: str | Path, style: str = "auto") -> ProblemList:
    """Problems from a GSM8K-style (``question``/``answer``) or MATH-style (``problem``/
    ``solution``/``answer``) JSONL or Parquet file. A malformed row raises
    :class:`DatasetError` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    if style not in ("auto", *ROW_READERS):
        raise ValueError(f"unknown style {style!r}; choose auto, {', '.join(ROW_READERS)}")
    problems = []
    for where, row in read_rows(path):
        try:
            problems.append(ROW_READERS[_detect_style(row) if style == "auto" else style](row))
        except (KeyError, ValueError, TypeError) as error:
            missing = f"missing key {error}" if isinstance(error, KeyError) else str(error)
            raise DatasetError(f"{where}: {missing}") from None
    return ProblemList(problems, name=str(path))


def load_hf_problems(name: str, split: str = "test", config: str | None = None,
                     style: str = "auto") -> ProblemList:  # fmt: skip
    """Problems from the Hugging Face hub through ``datasets`` (online users; not installed by
    turngym: ``pip install datasets``), e.g. ``load_hf_problems("openai/gsm8k", "test",
    "main")`` or ``load_hf_problems("HuggingFaceH4/MATH-500")``."""
    try:
        import datasets
    except ImportError:
        raise ImportError("loading by name needs `pip install datasets`; or give a path") from None
    rows = datasets.load_dataset(name, config, split=split)
    problems = []
    for index, row in enumerate(rows):
        try:
            problems.append(ROW_READERS[_detect_style(row) if style == "auto" else style](row))
        except (KeyError, ValueError, TypeError) as error:
            raise DatasetError(f"{name} ({split}), row {index}: {error}") from None
    return ProblemList(problems, name=name)


# -- sources by name -----------------------------------------------------------------------------
def shared_data_path(*parts: str) -> Path:
    """A path under ``$TURNGYM_DATA`` (default: ``../shared/data`` beside the repository)."""
    import os

    base = os.environ.get("TURNGYM_DATA")
    root = Path(base) if base else Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    return root.resolve().joinpath(*parts)


#: file sources by name: the shared data's GSM8K and MATH-500 (``data_path`` overrides)
NAMED_FILES = {
    "gsm8k": ("math", "gsm8k", "{split}.jsonl"),
    "math500": ("math", "math500", "{split}.jsonl"),
}


def make_problem_source(
    source: str = "arithmetic",
    split: str = "test",
    data_path: str | None = None,
    hf_name: str | None = None,
    hf_config: str | None = None,
    **generator_options: Any,
) -> ProblemSource:
    """A problem source by name: ``gsm8k`` / ``math500`` (files, ``split``; ``data_path`` for a
    file of your own, ``hf_name`` for the hub), ``file`` (``data_path``), or a generator
    (``arithmetic``, ``linear``, ``countdown``) with its difficulty options."""
    from .generators import GENERATORS

    if source in GENERATORS:
        return GENERATORS[source](**generator_options)
    if generator_options:
        raise ValueError(f"source {source!r} takes no options {sorted(generator_options)}")
    if hf_name is not None:
        return load_hf_problems(hf_name, split, hf_config)
    if data_path is not None:
        return load_problems(data_path)
    if source in NAMED_FILES:
        *folders, file = NAMED_FILES[source]
        return load_problems(shared_data_path(*folders, file.format(split=split)))
    raise ValueError(
        f"unknown problem source {source!r}; choose {', '.join([*NAMED_FILES, *GENERATORS])} "
        "or give data_path"
    )
