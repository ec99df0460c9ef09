"""Self-play win rates (SPO's reward, SPPO's estimate) from a pairwise judge, by hand."""

from __future__ import annotations

import math

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.metrics import read_metrics
from turngym.algos.trainer import Trainer
from turngym.config.run import ConfigError, load_config
from turngym.rewards import RuleJudge, Verdict, group_win_rates, judge_from_options
from turngym.rewards.scorers import Rubric, ScoringContext, make_scorer
from turngym.rewards.self_play import preference_of


def episode(group: str, won: bool, length: int, name: str = "") -> Trajectory:
    turns = [Turn("o", [1], [2], [0.0], "a", 0.0, True, reward=float(won and k == length - 1))
             for k in range(length)]  # fmt: skip
    return Trajectory(name or f"{group}-{won}-{length}", group, "env", 0, 0, turns=turns, won=won)


def test_win_rates_against_the_others_of_each_group_by_hand():
    # group g: a won; b and c lost alike (a tie between them); d is a group of one
    a, b, c = episode("g", True, 3), episode("g", False, 5, "b"), episode("g", False, 5, "c")
    d = episode("h", True, 2)
    rates = group_win_rates([b, a, d, c], RuleJudge())
    assert rates == [0.25, 1.0, 0.5, 0.25]  # b: 0 vs a, 1/2 vs c; d has no opponent
    # SPPO's estimate counts the response itself as a tie: (wins + 1/2) / G
    assert group_win_rates([b, a, d, c], RuleJudge(), include_self=True) == pytest.approx(
        [(0.5 + 0.5) / 3, (2 + 0.5) / 3, 0.5, (0.5 + 0.5) / 3]
    )


def test_soft_preference_is_the_sigmoid_of_the_margin():
    assert preference_of(Verdict(math.log(3), "A"), "soft") == pytest.approx(0.75)
    assert preference_of(Verdict(-math.log(3), "B"), "soft") == pytest.approx(0.25)
    assert [preference_of(Verdict(m, w)) for m, w in [(2.0, "A"), (-1, "B"), (0, None)]] == [
        1.0,
        0.0,
        0.5,
    ]


def test_spo_scorer_puts_the_win_rate_on_the_last_turn():
    a, b = episode("g", True, 2), episode("g", False, 3)
    Rubric.from_specs([type("Spec", (), {"name": "spo", "weight": 2.0, "options": {}})]).apply(
        [a, b]
    )
    assert [t.reward_terms["spo"] for t in a.turns] == [0.0, 2.0]  # weight 2 x win rate 1
    assert [t.reward_terms["spo"] for t in b.turns] == [0.0, 0.0, 0.0]
    assert b.reward_reasons["spo"] == "won 0.00 against 1 others"
    (score,) = make_scorer("spo", {"judge": {"kind": "rule"}}).score([a], ScoringContext())
    assert score.episode == 0.5


def test_judge_options_fail_naming_what_is_allowed(tiny_model_dir):
    with pytest.raises(ValueError, match="kind 'oracle' is unknown"):
        judge_from_options({"kind": "oracle"})
    with pytest.raises(ValueError, match="does not read \\['model'\\]"):
        judge_from_options({"kind": "rule", "model": "x"})
    with pytest.raises(ValueError, match="needs model"):
        judge_from_options({"kind": "llm"})
    with pytest.raises(ValueError, match="needs base_url"):
        judge_from_options({"kind": "chat", "model": "m"})
    assert judge_from_options({"kind": "llm", "model": str(tiny_model_dir)}).tie_threshold == 0
    with pytest.raises(ConfigError, match="reward.scorers.*kind 'oracle'"):
        load_config(None, ["reward.scorers=[{name: spo, options: {judge: {kind: oracle}}}]"])


@pytest.mark.parametrize("estimator", ["rloo", "gigpo"])
def test_spo_trains_with_any_estimator_and_its_rewards_average_one_half(tmp_path, estimator):
    """Each judged pair hands out one win in total, so a group's win rates average 1/2."""
    config = load_config(None, [
        "rollout.tasks_per_iteration=2", "rollout.group_size=4", "algo.minibatch_size=16",
        "algo.epochs=1", "train.eval_every=0", "train.eval_episodes=4", "train.progress=false",
        "agent.mode=choose", "train.iterations=1", f"algo.advantage={estimator}",
        "reward.scorers=[{name: spo, options: {judge: {kind: rule}}}]",
        f"train.output_dir={tmp_path}",
    ])  # fmt: skip
    Trainer(config).train()
    (row,) = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "reward/spo" in r]
    assert row["reward/spo_per_episode"] == pytest.approx(0.5)
