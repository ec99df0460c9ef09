"""The evaluation statistics against values worked by hand and by brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import pytest

from turngym.algos.eval_stats import (
    intervals_overlap,
    mean_at_k,
    mean_pass_at_k,
    pass_at_k,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "episodes", "low", "high"),
    [
        # p = 0.5, n = 10, z^2 = 3.8415: centre 0.5, half = 1.96/1.3841 * sqrt(0.025 + 0.0096)
        (5, 10, 0.236593, 0.763407),
        # p = 0: centre = 0.19207/1.38415 = 0.13876 = half, so [0, 2 * 0.13876]
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        # Newcombe (1998), Table I, example (i) 81/263: Wilson 0.2553 to 0.3662
        (81, 263, 0.2553, 0.3662),
        # ... (iv) 0/20: 0 to 0.1611; (v) 1/29: 0.0061 to 0.1718
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_hand_worked_and_published_values(successes, episodes, low, high):
    got_low, got_high = wilson_interval(successes, episodes)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes must be in"):
        wilson_interval(11, 10)
    # narrower with more episodes at the same rate, and always around the rate
    wide, narrow = wilson_interval(3, 10), wilson_interval(300, 1000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert narrow[0] < 0.3 < narrow[1]


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Every k-subset of n samples (c of them correct): the share that holds a correct one."""
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 2), (4, 1, 1), (3, 1, 3), (6, 0, 3),
                                           (6, 6, 1), (8, 3, 4), (10, 1, 5)])  # fmt: skip
def test_pass_at_k_is_the_share_of_k_subsets_with_a_success(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_hand_worked():
    # n = 5, c = 2, k = 2: 1 - C(3, 2) / C(5, 2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)  # pass@1 = c / n
    assert pass_at_k(3, 1, 3) == 1.0  # n - c < k: every draw holds the correct one
    assert pass_at_k(10, 0, 5) == 0.0
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 4)


def test_mean_pass_at_k_and_mean_at_k_average_over_tasks():
    outcomes = [
        [True, False, False, False],
        [False, False, False, False],
        [True, True, False, True],
    ]
    # pass@2 per task: 1 - C(3,2)/C(4,2) = 0.5; 0; 1 - C(1,2)/C(4,2) = 1
    assert mean_pass_at_k(outcomes, 2) == pytest.approx((0.5 + 0 + 1) / 3)
    assert mean_pass_at_k(outcomes, 1) == pytest.approx((0.25 + 0 + 0.75) / 3)
    assert mean_at_k(outcomes) == pytest.approx((0.25 + 0 + 0.75) / 3)
    assert mean_at_k([[0.5, 1.0], [0.0, 0.25]]) == pytest.approx((0.75 + 0.125) / 2)
    assert math.isclose(mean_pass_at_k(outcomes, 4), 2 / 3)


def test_intervals_overlap():
    assert intervals_overlap((0.1, 0.3), (0.3, 0.5))
    assert intervals_overlap((0.2, 0.4), (0.1, 0.5))
    assert not intervals_overlap((0.1, 0.2), (0.25, 0.5))
    assert not intervals_overlap((0.6, 0.9), (0.1, 0.5))
