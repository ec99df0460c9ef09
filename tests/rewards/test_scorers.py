"""The reward stage: scorers, the weighted rubric, and terms written beside the env reward."""

from __future__ import annotations

import pytest

from turngym.agents.trajectory import Trajectory, Turn, load_trajectories, save_trajectories
from turngym.rewards.scorers import (
    Rubric,
    RubricTerm,
    Score,
    ScoringContext,
    make_scorer,
)


def turn(reward: float, text: str = "", tokens: int = 1) -> Turn:
    return Turn("obs", [1, 2], [5] * tokens, [0.0] * tokens, "act", 0.0, True, reward=reward,
                response_text=text)  # fmt: skip


def trajectory(*turns: Turn) -> Trajectory:
    return Trajectory("e", "g", "env", 0, 0, turns=list(turns))


def test_two_weighted_scorers_add_up_beside_the_environment_reward(tmp_path):
    t = trajectory(turn(0.0, "<action>go</action>"), turn(1.0, "go"))
    rubric = Rubric([RubricTerm("env", make_scorer("env"), 1.0),
                     RubricTerm("format", make_scorer("format"), 0.5)])  # fmt: skip
    metrics = rubric.apply([t])
    assert [u.reward for u in t.turns] == [0.0, 1.0]  # the environment's, unchanged
    assert [u.reward_terms for u in t.turns] == [{"env": 0.0, "format": 0.5},
                                                  {"env": 1.0, "format": 0.0}]  # fmt: skip
    assert [u.total_reward for u in t.turns] == [0.5, 1.0] and t.total_return == 1.5
    assert t.return_ == 1.0 and t.reward_reasons["format"] == "1/2 turns formatted"
    assert metrics == {"reward/env": 0.5, "reward/env_per_episode": 1.0,
                       "reward/format": 0.25, "reward/format_per_episode": 0.5}  # fmt: skip
    for suffix in ("parquet", "jsonl"):
        (back,) = load_trajectories(save_trajectories([t], tmp_path / f"t.{suffix}"))
        assert back.turns[0].reward_terms == {"env": 0.0, "format": 0.5}
        assert back.reward_reasons == t.reward_reasons and back.total_return == 1.5


def test_overlong_is_dapos_soft_penalty():
    t = trajectory(turn(0, tokens=4), turn(0, tokens=6), turn(0, tokens=8))
    (score,) = make_scorer("overlong", {"buffer": 4}).score([t], ScoringContext(max_new_tokens=8))
    assert score.turns == [0.0, -0.5, -1.0]  # 0 up to L - C = 4 tokens, -1 at L = 8


def test_kl_scorer_reads_the_loops_kl_and_format_rejects_loose_text():
    t = trajectory(turn(0), turn(0))
    (score,) = make_scorer("kl").score([t], ScoringContext(turn_kl=[[0.25, 1.0]]))
    assert score.turns == [-0.25, -1.0]
    (fmt,) = make_scorer("format").score(
        [trajectory(turn(0, "<think>x</think> <action>a</action>"), turn(0, "<action></action>"),
                    turn(0, "<action>a</action> and more"))],
        ScoringContext(),
    )  # fmt: skip
    assert fmt.turns == [1.0, 0.0, 0.0]


def test_episode_scores_land_on_the_last_turn():
    class Outcome:
        needs = ()

        def score(self, trajectories, context):
            return [Score(episode=2.0, reason="done") for _ in trajectories]

    t = trajectory(turn(0), turn(0))
    Rubric([RubricTerm("outcome", Outcome(), 0.5)]).apply([t])
    assert [u.reward_terms["outcome"] for u in t.turns] == [0.0, 1.0]


def test_config_mistakes_name_the_scorer():
    with pytest.raises(ValueError, match="unknown scorer 'nope'.*env"):
        make_scorer("nope")
    with pytest.raises(ValueError, match="scorer 'overlong'.*unexpected keyword"):
        make_scorer("overlong", {"bufer": 2})
    with pytest.raises(ValueError, match="buffer must be > 0"):
        make_scorer("overlong", {"buffer": 0})
    with pytest.raises(ValueError, match="needs the agent's max_new_tokens"):
        make_scorer("overlong", {"buffer": 2}).score([trajectory(turn(0))], ScoringContext())
