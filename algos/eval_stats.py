"""The statistics of an evaluation: a success rate's 95% interval, pass@k and mean@k.

Pure functions of counts, so each can be checked by hand (``tests/algos/test_eval_stats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: the two-sided 95% normal quantile, Phi^-1(0.975)
Z_95 = 1.959963984540054


def wilson_interval(successes: int, episodes: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval (Wilson, 1927) for a success rate p = s / n:

        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
        [centre - half, centre + half]

    Unlike the normal approximation p +- z sqrt(p(1-p)/n), it stays inside [0, 1] and is not
    empty at p = 0 or 1 (0 of 10 gives [0, 0.278]). No episodes: the whole [0, 1].
    """
    if episodes <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= episodes:
        raise ValueError(f"successes must be in [0, {episodes}], got {successes}")
    p, n, z2 = successes / episodes, episodes, z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def intervals_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the closed intervals [a0, a1] and [b0, b1] share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def pass_at_k(samples: int, correct: int, k: int) -> float:
    """The unbiased estimator of pass@k from n samples of which c are correct (Chen et al.,
    2021, "Evaluating Large Language Models Trained on Code", eq. 1):

        pass@k = 1 - C(n - c, k) / C(n, k)

    the probability that at least one of k samples drawn without replacement from the n is
    correct. Needs k <= n; when n - c < k every draw holds a correct one and pass@k = 1.
    """
    if not 1 <= k <= samples:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={samples}")
    if not 0 <= correct <= samples:
        raise ValueError(f"correct must be in [0, {samples}], got {correct}")
    if samples - correct < k:
        return 1.0
    return 1.0 - math.comb(samples - correct, k) / math.comb(samples, k)


def mean_pass_at_k(outcomes: Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over tasks; ``outcomes[i]`` holds the n_i samples' successes of task i."""
    return sum(pass_at_k(len(o), sum(map(bool, o)), k) for o in outcomes) / len(outcomes)


def mean_at_k(values: Sequence[Sequence[float]]) -> float:
    """mean@k: the mean over tasks of the mean over each task's k samples,
    (1/T) sum_i (1/k_i) sum_j v_ij (``v`` a success 0/1 or a score); with k samples per task it
    estimates one sample's expected value with k times the samples of mean@1."""
    return sum(sum(map(float, v)) / len(v) for v in values) / len(values)
