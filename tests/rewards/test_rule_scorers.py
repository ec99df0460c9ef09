"""The rule-based scalar scorers, with hand-worked values, through the rubric as a config
builds it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.rewards.scorers import Rubric


def episode(actions: list[str], task_id=0, tokens: list[int] | None = None) -> Trajectory:
    turns = [
        Turn("obs", [], [0] * (tokens[k] if tokens else 1), [], action, 0.0, True,
             response_text=f"<think>hm</think><action>{action}</action>")
        for k, action in enumerate(actions)
    ]  # fmt: skip
    return Trajectory("e", "g", "env", task_id, 0, turns=turns)


def terms(name: str, options: dict, trajectories: list[Trajectory], weight: float = 1.0):
    Rubric.from_specs([SimpleNamespace(name=name, weight=weight, options=options)]).apply(
        trajectories
    )
    return [[turn.reward_terms[name] for turn in t.turns] for t in trajectories]


def test_exact_match_normalises_and_reads_targets_per_task(tmp_path) -> None:
    episodes = [episode(["look", " The Cat. "]), episode(["dog"]), episode(["cat"], task_id=1)]
    assert terms("exact_match", {"target": "the cat"}, episodes[:2]) == [[0.0, 1.0], [0.0]]
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"0": "dog", "1": "cat"}))
    assert terms("exact_match", {"targets": str(path)}, episodes[1:]) == [[1.0], [1.0]]
    assert "matches" in episodes[1].reward_reasons["exact_match"]
    with pytest.raises(ValueError, match="no target for task 7"):
        terms("exact_match", {"targets": {"0": "x"}}, [episode(["x"], task_id=7)])
    with pytest.raises(ValueError, match="give target"):
        terms("exact_match", {}, episodes)


def test_regex_match_per_turn_last_turn_or_any() -> None:
    episodes = [episode(["go to desk 1", "take mug 1", "look"])]
    pattern = {"pattern": r"\d", "on": "action"}
    assert terms("regex_match", pattern, episodes) == [[1.0, 1.0, 0.0]]
    assert terms("regex_match", {**pattern, "level": "episode"}, episodes) == [[0.0, 0.0, 0.0]]
    assert terms("regex_match", {**pattern, "level": "any"}, episodes) == [[0.0, 0.0, 1.0]]
    whole = {"pattern": r"<think>.*</think><action>.+</action>", "fullmatch": True}
    assert terms("regex_match", whole, episodes, weight=0.5) == [[0.5, 0.5, 0.5]]
    assert episodes[0].reward_reasons["regex_match"] == "3/3 turns match"
    with pytest.raises(ValueError, match="not a regular expression"):
        terms("regex_match", {"pattern": "("}, episodes)


def test_length_penalty_hand_worked() -> None:
    # L = 10: lengths 5, 10, 15, 20 -> 0, 0, -0.5, -1
    episodes = [episode(["a", "b", "c", "d"], tokens=[5, 10, 15, 20])]
    assert terms("length_penalty", {"target_length": 10}, episodes) == [[0.0, 0.0, -0.5, -1.0]]
    assert episodes[0].reward_reasons["length_penalty"] == "2/4 turns over 10 tokens"
    chars = terms("length_penalty", {"target_length": 20, "unit": "chars"}, episodes)
    assert chars == [[-0.75] * 4]  # "<think>hm</think><action>a</action>": -(35 - 20) / 20
    with pytest.raises(ValueError, match="target_length"):
        terms("length_penalty", {"target_length": 0}, episodes)
