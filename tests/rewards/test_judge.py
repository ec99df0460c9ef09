"""The LLM pairwise judge: answer log-probabilities, both orders, ties, truncation."""

from __future__ import annotations

import copy

import pytest
import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import make_backend
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.scoring import continuation_logprobs
from turngym.agents.trajectory import Trajectory, Turn
from turngym.rewards import LLMJudge, render_trajectory
from turngym.rewards.judge import judge_messages, verdict_from_margin

ENV_ID = "turngym/Household-v0"


@pytest.fixture(scope="module")
def judge(tiny_model_dir) -> LLMJudge:
    return LLMJudge.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def rollouts(judge) -> list[Trajectory]:
    """Two rollouts of each of 3 tasks by the untrained tiny policy."""
    backend = judge.backend
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=0)
    with EnvPool(ENV_ID, num_slots=6) as pool:
        return run_episodes(agent, pool, group_episodes([0, 1, 2], 2))


def pairs_of(rollouts: list[Trajectory]) -> list[tuple[Trajectory, Trajectory]]:
    return [(rollouts[k], rollouts[k + 1]) for k in range(0, len(rollouts), 2)]


def test_verdict_is_the_answer_log_odds_averaged_over_both_orders(judge, rollouts) -> None:
    model, tokenizer = judge.backend.model, judge.tokenizer
    answer_a, answer_b = tokenizer.encode("A"), tokenizer.encode("B")
    verdicts = judge.compare(pairs_of(rollouts))
    for (a, b), verdict in zip(pairs_of(rollouts), verdicts, strict=True):
        log_odds = []
        for first, second in ((a, b), (b, a)):
            text = tokenizer.apply_chat_template(
                judge_messages(first, second), add_generation_prompt=True, tokenize=False
            )
            prompt = tokenizer.encode(text)
            with torch.no_grad():
                lp_a, lp_b = continuation_logprobs(model, [prompt] * 2, [answer_a, answer_b])
            log_odds.append((lp_a.sum() - lp_b.sum()).item())
        assert verdict.log_odds == pytest.approx(log_odds, abs=1e-5)
        assert verdict.margin == pytest.approx(0.5 * (log_odds[0] - log_odds[1]), abs=1e-5)
        assert verdict.winner == ("A" if verdict.margin > 0 else "B")


def test_swapping_a_and_b_flips_the_margin_exactly(judge, rollouts) -> None:
    pairs = pairs_of(rollouts)
    forward = judge.compare(pairs)
    swapped = judge.compare([(b, a) for a, b in pairs])
    for one, other in zip(forward, swapped, strict=True):
        assert one.margin == -other.margin
        assert one.log_odds == other.log_odds[::-1]
        assert one.position_bias == other.position_bias
        assert {one.winner, other.winner} == {"A", "B"}


def test_tie_threshold(judge, rollouts) -> None:
    pair = pairs_of(rollouts)[0]
    (verdict,) = judge.compare([pair])
    size = abs(verdict.margin)
    assert size > 0
    strict = copy.copy(judge)
    strict.tie_threshold = size * 1.01
    (tied,) = strict.compare([pair])
    assert tied.winner is None and tied.margin == verdict.margin
    strict.tie_threshold = size * 0.99
    assert strict.compare([pair])[0].winner == verdict.winner
    assert verdict_from_margin(0.0).winner is None  # an exact tie, even at threshold 0
    assert verdict_from_margin(-2.0, tie_threshold=1.0).winner == "B"


def long_trajectory(turns: int, observation_chars: int) -> Trajectory:
    trajectory = Trajectory("long", "g", ENV_ID, 0, 0, task="put the apple 1 in the fridge 1.")
    for k in range(1, turns + 1):
        observation = f"obs{k} " + "x" * observation_chars
        trajectory.turns.append(Turn(observation, [1], [2], [0.0], f"act{k}", 0.0, True))
    trajectory.final_observation = "the end"
    return trajectory


def test_long_trajectories_keep_their_start_and_end_and_are_cut() -> None:
    text = render_trajectory(long_trajectory(40, 1000), max_turns=6, max_chars=50)
    lines = text.splitlines()
    shown = [line.split()[1] for line in lines if line.startswith("Step ") and "action" in line]
    assert shown == ["1", "2", "3", "38", "39", "40"]
    assert "(34 steps omitted)" in lines[6]
    assert "Step 4 " not in text and "Step 37 " not in text
    assert lines[-2:] == ["Final observation: the end", "Steps taken: 40"]
    for line in lines:
        assert len(line.split(": ", 1)[-1]) <= 50
    assert lines[0].endswith("...")
    short = render_trajectory(long_trajectory(3, 10), max_turns=6, max_chars=50)
    assert "omitted" not in short and short.count("action: ") == 3


def test_prompts_are_cut_to_the_token_budget(judge) -> None:
    assert judge.max_prompt_tokens == 2048 - 8  # from the tiny model's context length
    long = long_trajectory(100, 2000)
    assert len(judge.prompt_ids(long, long)) <= judge.max_prompt_tokens
    unlimited = LLMJudge(judge.backend, judge.tokenizer, max_prompt_tokens=None)
    assert len(unlimited.prompt_ids(long, long)) > judge.max_prompt_tokens
    tight = LLMJudge(judge.backend, judge.tokenizer, max_prompt_tokens=1200)
    fitted = tight.prompt_ids(long, long)
    assert len(fitted) <= 1200
    text = judge.tokenizer.decode(fitted)
    assert "Step 100 action" in text and "steps omitted" in text  # the end is kept
    with pytest.raises(ValueError, match="max_prompt_tokens=50"):
        LLMJudge(judge.backend, judge.tokenizer, max_prompt_tokens=50).prompt_ids(long, long)


def test_a_tokenizer_without_chat_template_gets_a_plain_prompt(judge, rollouts) -> None:
    tokenizer = copy.deepcopy(judge.tokenizer)
    tokenizer.chat_template = None
    plain = LLMJudge(judge.backend, tokenizer)
    prompt = tokenizer.decode(plain.prompt_ids(*pairs_of(rollouts)[0]))
    assert prompt.endswith("A or B.\nAnswer: ") and "<|im_start|>" not in prompt
    (verdict,) = plain.compare([pairs_of(rollouts)[0]])
    assert verdict.winner in ("A", "B")


def test_answers_must_differ(judge) -> None:
    with pytest.raises(ValueError, match="answers"):
        LLMJudge(judge.backend, judge.tokenizer, answers=("A", "A"))


def test_judge_runs_on_any_backend_object(judge, rollouts) -> None:
    backend = make_backend(model=judge.backend.model, tokenizer=judge.tokenizer)
    other = LLMJudge(backend, judge.tokenizer, max_turns=4, max_chars=80)
    verdicts = other.compare(pairs_of(rollouts))
    assert len(verdicts) == 3 and all(v.log_odds is not None for v in verdicts)
