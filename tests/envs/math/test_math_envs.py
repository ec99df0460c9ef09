"""Math-v0 and MathMultiTurn-v0 with the real verifier, the problem sources and loaders."""

from __future__ import annotations

import json

import gymnasium as gym
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shared_data import SHARED_DATA

import turngym.envs  # noqa: F401
from turngym.common.math import VerifyItem, verify_item
from turngym.common.math.generators import Arithmetic, Countdown, LinearEquation
from turngym.common.math.problems import DatasetError, load_problems, make_problem_source
from turngym.envs.math.env import NO_ANSWER

GSM8K_TEST = SHARED_DATA / "math" / "gsm8k" / "test.jsonl"
needs_gsm8k = pytest.mark.skipif(not GSM8K_TEST.is_file(), reason=f"{GSM8K_TEST} is absent")


def make(env_id: str = "turngym/Math-v0", **kwargs):
    return gym.make(env_id, **kwargs).unwrapped


# -- Math-v0 -------------------------------------------------------------------------------------
def test_a_correct_answer_wins_and_ends_the_episode() -> None:
    env = make()
    observation, info = env.reset(options={"task_id": 5})
    problem = Arithmetic().problem(5)
    assert problem.question in observation and "<answer>" in observation
    assert info["task_type"] == "arithmetic" and info["won"] is False
    observation, reward, terminated, truncated, info = env.step(
        f"<think>easy</think><answer>{problem.answer}</answer>"
    )
    assert (observation, reward, terminated, info["won"]) == ("Correct.", 1.0, True, True)


def test_a_wrong_or_sprayed_answer_scores_zero_and_no_answer_is_invalid() -> None:
    env = make()
    env.reset(options={"task_id": 5})
    gold = int(Arithmetic().problem(5).answer)
    observation, reward, terminated, _, info = env.step("I think it is 3")  # no final slot
    assert (observation, reward, terminated, info["invalid_action"]) == (NO_ANSWER, 0.0, False,
                                                                         True)  # fmt: skip
    _, reward, terminated, _, info = env.step(rf"\boxed{{{gold + 1}}} or \boxed{{{gold}}}")
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert info["verdict"] == "several answers in boxed"
    env.reset(options={"task_id": 5})
    _, reward, terminated, _, info = env.step(f"#### {gold + 1}")
    assert (reward, terminated, info["verdict"]) == (0.0, True, "wrong answer")


@needs_gsm8k
@pytest.mark.parametrize("source, kind", [("gsm8k", "gsm8k"), ("math500", "math/")])
def test_dataset_sources_and_their_expert(source: str, kind: str) -> None:
    env = make(source=source)
    assert env.num_tasks == {"gsm8k": 1319, "math500": 500}[source]
    for task_id in (0, 7, env.num_tasks - 1):
        _, info = env.reset(options={"task_id": task_id})
        assert info["task_type"].startswith(kind)
        *_, reward, terminated, _, info = env.step(env.expert_action())
        assert reward == 1.0 and info["won"]


def test_countdown_env_checks_the_expression() -> None:
    env = make(source="countdown", source_options={"num_numbers": 3, "max_number": 10})
    env.reset(options={"task_id": 2})
    problem = Countdown(3, 10).problem(2)
    _, reward, *_ = env.step(
        f"<answer>{problem.answer}</answer>"
    )  # the target is not an expression
    assert reward == 0.0
    env.reset(options={"task_id": 2})
    _, reward, *_ = env.step(env.expert_action())
    assert reward == 1.0


def test_bad_kwargs_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown problem source 'gsm9k'"):
        make(source="gsm9k")
    with pytest.raises(ValueError, match="unknown answer formats"):
        make(answer_formats=["latex"])
    with pytest.raises(TypeError):
        make(source="arithmetic", source_options={"digitz": 2})
    with pytest.raises(ValueError, match="feedback"):
        make("turngym/MathMultiTurn-v0", feedback="shout")


# -- MathMultiTurn-v0 ----------------------------------------------------------------------------
def test_multi_turn_retries_with_decaying_reward() -> None:
    env = make("turngym/MathMultiTurn-v0", max_attempts=3, reward_decay=0.5)
    env.reset(options={"task_id": 1})
    gold = int(Arithmetic().problem(1).answer)
    observation, reward, terminated, _, info = env.step(f"<answer>{gold + 3}</answer>")
    assert observation == "Incorrect. 2 attempts left." and (reward, terminated) == (0.0, False)
    _, reward, terminated, _, info = env.step(f"<answer>{gold + 2}</answer>")
    assert info["attempts"] == 2 and not terminated
    observation, reward, terminated, _, info = env.step(f"<answer>{gold}</answer>")
    assert (observation, reward, terminated, info["won"]) == ("Correct.", 0.25, True, True)


def test_multi_turn_ends_after_k_wrong_answers() -> None:
    env = make("turngym/MathMultiTurn-v0", max_attempts=2)
    env.reset(options={"task_id": 1})
    env.step("<answer>1000</answer>")
    observation, reward, terminated, _, info = env.step("<answer>1001</answer>")
    assert observation.endswith("No attempts left.") and terminated and not info["won"]


def test_feedback_modes() -> None:
    gold = int(LinearEquation().problem(4).answer)
    env = make("turngym/MathMultiTurn-v0", source="linear", feedback="direction")
    env.reset(options={"task_id": 4})
    assert env.step(f"<answer>{gold + 5}</answer>")[0].startswith("Incorrect: too high.")
    assert env.step(f"<answer>{gold - 5}</answer>")[0].startswith("Incorrect: too low.")
    env = make("turngym/MathMultiTurn-v0", source="linear", feedback="hint")
    env.reset(options={"task_id": 4})
    first_step = LinearEquation().problem(4).solution.split("<think>")[1].split(", ")[0]
    assert env.step("<answer>999</answer>")[0].startswith(f"Incorrect. Hint: {first_step}")


# -- generators ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "generator", [Arithmetic(), Arithmetic(3, 4, "+-*"), LinearEquation(12, 50), Countdown(4, 30)]
)
def test_generators_are_seeded_and_their_solutions_verify(generator) -> None:
    assert generator.problem(17) == generator.problem(17)
    assert len({generator.problem(i).question for i in range(50)}) > 25
    for task_id in range(100):
        problem = generator.problem(task_id)
        item = VerifyItem(problem.solution, problem.answer, problem.checker, problem.numbers)
        assert verify_item(item).correct, problem


def test_difficulty_knobs_change_the_problems() -> None:
    easy, hard = Arithmetic(digits=1, terms=2), Arithmetic(digits=3, terms=4, operations="+-*")
    assert all(abs(int(easy.problem(i).answer)) <= 18 for i in range(100))
    assert max(abs(int(hard.problem(i).answer)) for i in range(100)) > 10_000
    with pytest.raises(ValueError, match="operations"):
        Arithmetic(operations="^")


# -- loaders -------------------------------------------------------------------------------------
def test_jsonl_and_parquet_loaders(tmp_path) -> None:
    rows = [
        {"question": "1+1?", "answer": "1+1=2\n#### 2"},
        {"question": "2+2?", "answer": "#### 4"},
    ]
    jsonl = tmp_path / "g.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    parquet = tmp_path / "m.parquet"
    row = {"problem": "p", "solution": r"so \boxed{3}", "level": "Level 2", "type": "Algebra"}
    pq.write_table(pa.Table.from_pylist([row]), parquet)
    assert [p.answer for p in load_problems(jsonl).problems] == ["2", "4"]
    math = load_problems(parquet).problems[0]
    assert (math.answer, math.level, math.kind) == ("3", 2, "math/Algebra")
    env = make(source="mine", data_path=str(jsonl))
    assert env.num_tasks == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: a row must be a JSON object"),
        ('{"question": "q"}', "line 2: missing key 'answer'"),
        ('{"question": "q", "answer": "no hashes"}', "line 2: needs string"),
    ],
)
def test_a_malformed_row_names_the_file_and_line(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "#### 1"}) + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=f"{path}, {message}"):
        load_problems(path)


def test_missing_files_and_sources() -> None:
    with pytest.raises(FileNotFoundError, match="no such data file"):
        load_problems("/nonexistent/x.jsonl")
    with pytest.raises(ValueError, match="takes no options"):
        make_problem_source("gsm8k", digits=2)


def test_the_tiny_tokenizer_of_the_math_config_reads_math_text_sensibly(tmp_path):
    """The tiny model's tokenizer as ``configs/math_grpo.yaml`` builds it: worked solutions are
    in its corpus, and digits are single tokens here (nothing in the byte-level BPE forces that
    in general: a tokenizer trained on a smaller math corpus merged "12")."""
    from transformers import AutoTokenizer

    from turngym.agents.tiny import build_tiny_model, environment_corpus

    kwargs = {
        "source": "arithmetic",
        "source_options": {"digits": 1, "terms": 2, "operations": "+"},
    }
    corpus = environment_corpus(["turngym/Math-v0"], env_kwargs={"turngym/Math-v0": kwargs})
    assert any("<answer>" in text for text in corpus)  # the worked solutions (corpus_texts)
    build_tiny_model(tmp_path, env_ids=["turngym/Math-v0"], env_kwargs={"turngym/Math-v0": kwargs})
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "<think>12+9=21</think><answer>21</answer>"
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode(text)]
    assert "".join(pieces) == text
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == ["1", "2", "9", "2", "1", "2", "1"]  # one token per digit
