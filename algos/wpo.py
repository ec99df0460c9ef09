"""WPO (Zhou et al., 2024, "WPO: Enhancing RLHF with Weighted Preference Optimization"):
off-policy preference pairs weighted by how likely the current policy is to produce them, so
that training on another policy's pairs resembles on-policy training. It sits on top of any
pairwise preference loss (DPO, IPO, SimPO, DMPO, TDPO, ...):

    L_WPO = E_(x, y_w, y_l) [ w(x, y_w) w(x, y_l) L(x, y_w, y_l) ]

with the weight of a response its length-normalised probability under the current policy,
detached (sg):

    w(x, y) = sg( exp( 1/|y| sum_t [ log pi(y_t | x, y_<t) - log A_t ] ) )

A_t is the paper's alignment of the weights, what pi_theta's own samples would score at that
position, so that an on-policy response weighs about 1 however peaked the distribution is:

- ``sampled`` (the paper's default, Eq. 2): A_t = sum_v pi(v | x, y_<t)^2, the expected
  probability of a token drawn from pi itself;
- ``greedy``: A_t = max_v pi(v | x, y_<t), the probability of the greedy token;
- ``none``: A_t = 1, the plain length-normalised probability (the paper's first form).

The pair's weight is clamped at 1, min(1, w(x, y_w) w(x, y_l)), as TRL's ``use_weighting``
does (TRL implements the ``sampled`` form).

Multi-turn: |y| counts every labelled unit of the trajectory and the sum runs over all of its
assistant turns, each scored on its own prompt (``shape: step``) or in the whole conversation
(``shape: conversation``). A unit is a response token (``generate`` mode; v ranges over the
vocabulary) or a turn's choice (``choose`` mode; v ranges over the admissible actions).
"""

from __future__ import annotations

import torch

#: the alignment A_t of each weighting variant (see the module docstring)
WPO_ALIGNMENTS = ("sampled", "greedy", "none")


def alignment_log_terms(log_distribution: torch.Tensor, alignment: str) -> torch.Tensor:
    """log A_t at each unit from the unit's whole log pi(. | context), ``[U, K]`` -> ``[U]``:
    log sum_v pi(v)^2 (``sampled``), log max_v pi(v) (``greedy``) or 0 (``none``)."""
    if alignment == "sampled":
        return torch.logsumexp(2 * log_distribution, dim=-1)
    if alignment == "greedy":
        return log_distribution.max(dim=-1).values
    if alignment == "none":
        return torch.zeros(log_distribution.shape[:-1], dtype=log_distribution.dtype)
    raise ValueError(f"alignment={alignment!r}: use one of {WPO_ALIGNMENTS}")


def response_log_weights(
    unit_logps: torch.Tensor, log_alignment: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """log w(x, y) = 1/|y| sum_t m_t (log pi(y_t) - log A_t) per row of ``[B, U]`` inputs,
    detached; an empty response gets log w = 0."""
    adjusted = (unit_logps.detach() - log_alignment.detach()) * mask
    return adjusted.sum(dim=-1) / mask.sum(dim=-1).clamp_min(1)


def pair_weights(
    chosen_log_weight: torch.Tensor, rejected_log_weight: torch.Tensor
) -> torch.Tensor:
    """min(1, w(x, y_w) w(x, y_l)) per pair, from the two log-weights, detached."""
    return torch.exp(chosen_log_weight + rejected_log_weight).clamp(max=1.0).detach()
