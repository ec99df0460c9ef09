"""The math verifier: extraction, anti-spraying, the normalization policy, timeouts, the pool,
and its accuracy on every GSM8K and MATH-500 gold answer (real math-verify throughout)."""

from __future__ import annotations

import json
import threading

import pytest
from shared_data import SHARED_DATA

from turngym.common.math import (
    VerifierPool,
    VerifyItem,
    check_countdown,
    extract_answer,
    normalize_answer,
    verify_answer,
)
from turngym.common.math.answers import boxed_contents

MATH_DATA = SHARED_DATA / "math"


def score(response: str, gold: str, **kwargs) -> float:
    return verify_answer(response, gold, **kwargs).score


# -- extraction ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "response, answer, reason",
    [
        ("<think>maybe 41</think><answer>42</answer>", "42", "answer_tag"),
        (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}", "boxed"),
        ("3 + 4 = 7\n#### 7", "7", "hash"),
        (r"<answer>\boxed{7}</answer>", "7", "answer_tag"),
        (r"\boxed{x^{2}+\left\{1\right\}}", r"x^{2}+\left\{1\right\}", "boxed"),
        ("The answer is 42", None, "no final answer"),
        ("<answer></answer>", None, "empty answer_tag"),
    ],
)
def test_extraction(response: str, answer: str | None, reason: str) -> None:
    extraction = extract_answer(response)
    assert (extraction.answer, extraction.reason) == (answer, reason)


def test_formats_are_configurable_and_checked() -> None:
    response = r"<answer>41</answer> \boxed{42}"
    assert extract_answer(response).answer == "41"
    assert extract_answer(response, ("boxed",)).answer == "42"
    assert extract_answer("42", ("bare",)).answer == "42"
    assert extract_answer("42").answer is None  # bare is off by default
    with pytest.raises(ValueError, match="unknown answer formats.*'latex'"):
        extract_answer("42", ("latex",))


def test_boxed_contents_balances_braces() -> None:
    assert boxed_contents(r"\boxed{\frac{a}{b}} and \fbox{{x}}") == [r"\frac{a}{b}", "{x}"]
    assert boxed_contents(r"\boxed{unclosed") == []


# -- anti-spraying -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "response",
    [
        r"\boxed{41} or maybe \boxed{42}",  # several boxed answers
        "<answer>41</answer><answer>42</answer>",  # several answer tags
        "#### 41\n#### 42",  # several hash lines
        "<answer>41 or 42</answer>",  # alternatives in the slot
        "<answer>40, 41, 42, 43</answer>",  # a list is not a number
        "I think it is 42, since 6 * 7 = 42. <answer>41</answer>",  # right only in reasoning
        "<think>it is 42</think>",  # no final slot at all
        "6 * 7 = 42",  # no final slot
    ],
)
def test_spraying_does_not_pay(response: str) -> None:
    assert score(response, "42") == 0.0


def test_one_answer_repeated_or_written_two_equal_ways_is_one_answer() -> None:
    assert score(r"\boxed{42} ... so \boxed{42}", "42") == 1.0
    solution = r"$d = \boxed{15\frac{39}{40}},$ or $\boxed{\frac{639}{40}}$ inches."
    assert score(solution, r"\frac{639}{40}") == 1.0
    assert score(r"<think>\boxed{41}</think> \boxed{42}", "42") == 1.0  # reasoning is ignored


# -- the normalization policy --------------------------------------------------------------------
@pytest.mark.parametrize(
    "gold, answer, expected",
    [
        # percentages: the sign is a unit and is dropped; a fraction is not a percentage
        (r"50\%", "50", 1.0),
        ("50", "50%", 1.0),
        (r"50\%", r"50\%", 1.0),
        (r"50\%", "0.5", 0.0),
        ("50", "0.5", 0.0),
        # units and currency
        ("18", r"\$18", 1.0),
        ("18", "18 dollars", 1.0),
        ("5", r"5\text{ cm}^2", 1.0),
        ("5", "6 cm", 0.0),
        # thousands separators
        ("1000", "1,000", 1.0),
        ("1000", "1{,}000", 1.0),
        ("1000", r"1\,000", 1.0),
        ("1000", "1 000", 1.0),
        ("1234567", "1,234,567", 1.0),
        ("15", "1,5", 0.0),  # not grouped by three: the list 1, 5
        # numeric tolerance: math-verify's 6 decimals for a rational gold, nothing relative
        (r"\frac{1}{3}", "0.333333", 1.0),
        (r"\frac{1}{3}", "0.3333", 0.0),
        ("42", "41.9999999", 0.0),
        ("3", "3.0", 1.0),
        (r"\pi", "3.14159", 0.0),
        (r"\sqrt{2}", "1.41421", 0.0),
        # other forms
        ("1000000", "1e6", 1.0),
        ("42", "42.", 1.0),
        ("0.5", "1/2", 1.0),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", 1.0),
        ("-2, 1", "1, -2", 1.0),
        ("5", "x = 5", 1.0),
        (r"\text{Evelyn}", "evelyn", 1.0),
        (r"\text{even}", r"\text{neve}", 0.0),  # words are text, not a product of symbols
    ],
)
def test_policy(gold: str, answer: str, expected: float) -> None:
    assert score(f"<answer>{answer}</answer>", gold) == expected, (gold, answer)


def test_normalize_answer() -> None:
    assert normalize_answer(r"\$1{,}000 dollars.") == "1000"
    assert normalize_answer(r"$50\%$") == "50"
    assert normalize_answer("1.5E-3") == r"1.5\times10^{-3}"


# -- Countdown -----------------------------------------------------------------------------------
def test_countdown_checker() -> None:
    assert check_countdown("(3 + 5) * 3", 24, [3, 3, 5]).correct
    assert check_countdown(r"8 \times 3 = 24", 24, [8, 3, 9]).correct
    assert "not among" in check_countdown("3 * 8", 24, [3, 5]).reason  # 8 is not given
    assert "not among" in check_countdown("3 * 3 * 3", 27, [3, 3]).reason  # 3 used thrice
    assert "evaluates to" in check_countdown("3 + 5", 24, [3, 5]).reason
    assert "allowed" in check_countdown("__import__('os')", 24, [3]).reason
    assert "allowed" in check_countdown("2 ** 10", 1024, [2, 10]).reason
    assert check_countdown("1 / 0", 1, [1, 0]).reason == "division by zero"
    item = VerifyItem("<answer>(3+5)*3</answer>", "24", checker="countdown", numbers=(3, 3, 5))
    with VerifierPool(num_workers=1) as pool:
        assert pool.verify([item])[0].correct


# -- timeouts and the pool -----------------------------------------------------------------------
PATHOLOGICAL = r"\boxed{" + "(" * 2000 + "x" + ")" * 2000 + "^{9^{9^{9}}}}"
SLOW = "<answer>" + "+".join(rf"\frac{{{i}}}{{{i + 1}}}" for i in range(1, 400)) + "</answer>"


def test_a_timeout_scores_zero_with_the_reason() -> None:
    verdict = verify_answer(SLOW, "1", timeout=0.05)
    assert verdict.timed_out and verdict.score == 0.0 and "timeout" in verdict.reason
    assert verify_answer("#### 2", "2", timeout=0.05).correct  # the alarm is cleared after


def test_off_the_main_thread_a_timeout_needs_the_pool() -> None:
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_try_in_thread()))
    thread.start()
    thread.join()
    assert "VerifierPool" in errors[0]


def _try_in_thread() -> str:
    try:
        verify_answer("#### 1", "1")
    except RuntimeError as error:
        return str(error)
    return "no error"


def test_pool_keeps_order_counts_timeouts_and_survives_a_killed_worker() -> None:
    items = [VerifyItem(f"#### {i}", str(i if i % 3 else i + 1)) for i in range(40)]
    items[7] = VerifyItem(SLOW, "1")
    with VerifierPool(num_workers=2, timeout=0.05, grace=1.0, chunk_size=4) as pool:
        verdicts = pool.verify(items)
        assert [v.score for i, v in enumerate(verdicts) if i != 7] == [
            float(i % 3 != 0) for i in range(40) if i != 7
        ]
        assert verdicts[7].timed_out and pool.timeouts == 1
        # a worker that dies mid-chunk is replaced; the rest of its chunk is still verified
        pool._workers[0].process.kill()
        verdicts = pool.verify([VerifyItem(f"#### {i}", str(i)) for i in range(20)])
        assert sum(v.score for v in verdicts) >= 16 and pool.restarts >= 1
        assert pool.verify([VerifyItem("#### 3", "3")])[0].correct


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="num_workers"):
        VerifierPool(num_workers=0)


# -- accuracy on real data -----------------------------------------------------------------------
def _rows(path):
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared data, see tests/shared_data.py)")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_every_gold_answer_verifies_against_itself_and_its_reference_solution(capsys) -> None:
    gsm8k = [
        row for split in ("train", "test") for row in _rows(MATH_DATA / "gsm8k" / f"{split}.jsonl")
    ]
    math500 = _rows(MATH_DATA / "math500" / "test.jsonl")
    items = []
    for row in gsm8k:
        gold = row["answer"].split("####")[-1].strip()
        items += [VerifyItem(f"#### {gold}", gold), VerifyItem(row["answer"], gold)]
    for row in math500:
        gold = row["answer"]
        items += [VerifyItem(rf"\boxed{{{gold}}}", gold), VerifyItem(row["solution"], gold)]
    with VerifierPool(num_workers=2, timeout=10.0) as pool:
        verdicts = pool.verify(items)
        timeouts = pool.timeouts
    failed = [
        (i.gold, i.response[-80:], v.reason)
        for i, v in zip(items, verdicts, strict=True)
        if not v.correct
    ]
    with capsys.disabled():
        print(f"\nverified {len(items) - len(failed)}/{len(items)} (GSM8K {len(gsm8k)} golds, "
              f"MATH-500 {len(math500)} golds, each against itself and its reference solution; "
              f"timeouts {timeouts})")  # fmt: skip
    assert not failed, failed[:10]
