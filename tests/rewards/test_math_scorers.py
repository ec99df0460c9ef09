"""The math scorers in the reward stage: the verifier's 1/0 (through its pool) and R1's format."""

from __future__ import annotations

import pytest

from turngym.agents.trajectory import Trajectory, Turn
from turngym.common.math.generators import Arithmetic, Countdown
from turngym.rewards.scorers import Rubric, RubricTerm, ScoringContext, make_scorer


def episode(task_id: int, *replies: str) -> Trajectory:
    turns = [Turn("obs", [1], [2], [0.0], "act", 0.0, True, response_text=r) for r in replies]
    return Trajectory(f"e{task_id}", f"g{task_id}", "turngym/Math-v0", task_id, 0, turns=turns)


def test_math_scorer_verifies_the_last_reply_against_the_tasks_gold():
    gold = [Arithmetic().problem(i).answer for i in range(4)]
    trajectories = [
        episode(0, f"<think>x</think><answer>{gold[0]}</answer>"),
        episode(1, f"<answer>{int(gold[1]) + 1}</answer>"),
        episode(2, f"<answer>{gold[0]}</answer>", rf"\boxed{{{gold[2]}}}"),  # last reply counts
        episode(3, f"\\boxed{{{gold[3]}}} \\boxed{{{int(gold[3]) + 1}}}"),  # sprayed
    ]
    scorer = make_scorer("math", {"source": "arithmetic", "num_workers": 1})
    try:
        scores = scorer.score(trajectories, ScoringContext())
    finally:
        scorer.close()
    assert [s.episode for s in scores] == [1.0, 0.0, 1.0, 0.0]
    assert [s.reason for s in scores] == ["correct", "wrong answer", "correct",
                                          "several answers in boxed"]  # fmt: skip
    assert scorer.timeouts == 0


def test_math_scorer_reads_countdown_and_takes_the_envs_kwargs():
    problem = Countdown(3, 10).problem(5)
    options = {"source": "countdown", "source_options": {"num_numbers": 3, "max_number": 10},
               "max_attempts": 3, "num_workers": 1}  # fmt: skip
    scorer = make_scorer("math", options)
    try:
        (score,) = scorer.score([episode(5, problem.solution)], ScoringContext())
    finally:
        scorer.close()
    assert score.episode == 1.0
    with pytest.raises(ValueError, match="scorer 'math'.*'sourse'"):
        make_scorer("math", {"sourse": "gsm8k"})


@pytest.mark.parametrize(
    "reply, formatted",
    [
        ("<think>3+4=7</think><answer>7</answer>", True),
        ("<think>3+4=7</think>\n<answer>7</answer>\n", True),
        ("<action><think>a</think><answer>7</answer></action>", True),  # turngym's wrapper
        ("<answer>7</answer>", False),  # no reasoning block
        ("<think>a</think>", False),  # no answer
        ("<answer>7</answer><think>a</think>", False),  # wrong order
        ("<think>a</think><answer>7</answer> also 8", False),  # text outside the blocks
        ("<think>a</think><answer>7</answer><answer>8</answer>", False),  # two answers
        ("<think></think><answer>7</answer>", False),  # empty reasoning
    ],
)
def test_think_answer_format(reply: str, formatted: bool):
    (score,) = make_scorer("think_answer").score([episode(0, reply)], ScoringContext())
    assert score.episode == float(formatted)


def test_math_and_format_compose_in_a_rubric():
    gold = Arithmetic().problem(0).answer
    trajectories = [episode(0, f"<think>ok</think><answer>{gold}</answer>"),
                    episode(0, f"<answer>{gold}</answer>"), episode(0, "<think>?</think><answer>"
                                                                     "-99</answer>")]  # fmt: skip
    math = make_scorer("math", {"num_workers": 1})
    rubric = Rubric([RubricTerm("math", math, 1.0),
                     RubricTerm("think_answer", make_scorer("think_answer"), 0.1)])  # fmt: skip
    try:
        metrics = rubric.apply(trajectories)
    finally:
        math.close()
    assert [t.total_return for t in trajectories] == pytest.approx([1.1, 1.0, 0.1])
    assert metrics["reward/math_per_episode"] == pytest.approx(2 / 3)
    (every,) = make_scorer("think_answer", {"every_turn": True}).score(
        [episode(0, "<python>1</python>", "<think>a</think><answer>1</answer>")], ScoringContext()
    )
    assert every.turns == [0.0, 1.0]
