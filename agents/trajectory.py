"""Trajectories: what a rollout produces and every algorithm consumes.

Token in, token out: each turn keeps the exact prompt token ids the policy saw, the response
token ids it produced and their log-probabilities, so a trainer never re-tokenizes text.

Two action modes fill a turn differently:

- ``generate``: ``response_ids`` are the sampled tokens, ``response_logprobs`` one per token,
  ``action_logprob`` their sum.
- ``choose``: the policy scored each admissible action; ``candidate_ids`` holds each candidate's
  tokens, ``chosen_index`` the one sampled, ``response_ids`` its tokens and ``action_logprob``
  the log-probability of choosing it (``response_logprobs`` holds that single value).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Turn:
    """One agent step: the state it saw, what it did, what came back."""

    observation: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float]
    action: str
    action_logprob: float
    valid: bool  # the environment accepted the action (not ``info["invalid_action"]``)
    reward: float = 0.0
    state_key: str | None = None
    admissible_actions: list[str] = field(default_factory=list)
    candidate_ids: list[list[int]] | None = None
    chosen_index: int | None = None
    response_text: str = ""
    reward_terms: dict[str, float] = field(default_factory=dict)  # the reward stage's, weighted

    @property
    def total_reward(self) -> float:
        """What the advantage estimators read: the sum of the reward stage's weighted terms
        (:mod:`turngym.rewards.scorers`), or the environment's reward before any stage ran."""
        return float(sum(self.reward_terms.values())) if self.reward_terms else self.reward


@dataclass
class Trajectory:
    """One episode. ``group_id`` is shared by the rollouts that start from the same task."""

    episode_id: str
    group_id: str
    env_id: str
    task_id: Any
    seed: int | None
    task: str = ""
    task_type: str = ""
    turns: list[Turn] = field(default_factory=list)
    won: bool = False
    truncated: bool = False
    final_observation: str = ""
    final_admissible_actions: list[str] = field(default_factory=list)  # at final_observation
    error: str | None = None  # why the episode stopped early (e.g. a crashed worker)
    reward_reasons: dict[str, str] = field(default_factory=dict)  # each scorer's reason
    score: float | None = None  # the environment's native final score (info["score"]), if any

    @property
    def total_return(self) -> float:
        """Undiscounted sum of the turns' total rewards (the reward stage's terms)."""
        return float(sum(turn.total_reward for turn in self.turns))

    @property
    def return_(self) -> float:
        """Undiscounted sum of rewards."""
        return float(sum(turn.reward for turn in self.turns))

    @property
    def length(self) -> int:
        return len(self.turns)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["task_id"] = json.dumps(self.task_id)
        row["return"] = self.return_
        row["length"] = self.length
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Trajectory:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        values["task_id"] = json.loads(values["task_id"])
        values["reward_reasons"] = _as_dict(values.get("reward_reasons"))
        values["turns"] = [
            Turn(**{**turn, "reward_terms": _as_dict(turn.get("reward_terms"))})
            for turn in values["turns"]
        ]
        return cls(**values)


def _as_dict(mapping: Any) -> dict:
    """A Parquet map column reads back as a list of (key, value) pairs."""
    if mapping is None:
        return {}
    return dict(mapping) if not isinstance(mapping, dict) else mapping


_TURN_TYPE = pa.struct(
    [
        ("observation", pa.string()),
        ("prompt_ids", pa.list_(pa.int32())),
        ("response_ids", pa.list_(pa.int32())),
        ("response_logprobs", pa.list_(pa.float64())),
        ("action", pa.string()),
        ("action_logprob", pa.float64()),
        ("valid", pa.bool_()),
        ("reward", pa.float64()),
        ("state_key", pa.string()),
        ("admissible_actions", pa.list_(pa.string())),
        ("candidate_ids", pa.list_(pa.list_(pa.int32()))),
        ("chosen_index", pa.int32()),
        ("response_text", pa.string()),
        ("reward_terms", pa.map_(pa.string(), pa.float64())),
    ]
)
TRAJECTORY_SCHEMA = pa.schema(
    [
        ("episode_id", pa.string()),
        ("group_id", pa.string()),
        ("env_id", pa.string()),
        ("task_id", pa.string()),  # JSON, so int and str ids both round-trip
        ("seed", pa.int64()),
        ("task", pa.string()),
        ("task_type", pa.string()),
        ("turns", pa.list_(_TURN_TYPE)),
        ("won", pa.bool_()),
        ("truncated", pa.bool_()),
        ("final_observation", pa.string()),
        ("final_admissible_actions", pa.list_(pa.string())),
        ("error", pa.string()),
        ("reward_reasons", pa.map_(pa.string(), pa.string())),
        ("score", pa.float64()),
        ("return", pa.float64()),
        ("length", pa.int32()),
    ]
)


def save_trajectories(trajectories: list[Trajectory], path: str | Path) -> Path:
    """Write to ``.parquet`` or ``.jsonl`` (chosen by the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [t.to_dict() for t in trajectories]
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=TRAJECTORY_SCHEMA), path)
    elif path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise ValueError(f"unsupported trajectory file {path}: use .parquet or .jsonl")
    return path


def load_trajectories(path: str | Path) -> list[Trajectory]:
    """Read trajectories written by :func:`save_trajectories`."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    else:
        raise ValueError(f"unsupported trajectory file {path}: use .parquet or .jsonl")
    return [Trajectory.from_dict(row) for row in rows]
