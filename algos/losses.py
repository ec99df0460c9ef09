"""Policy-gradient losses, KL estimators and loss aggregation.

Shapes: ``logprobs``, ``old_logprobs``, ``ref_logprobs``, ``advantages`` and ``mask`` are
``[batch, units]`` tensors, where a unit is a response token (``generate`` mode) or the one
choice of a step (``choose`` mode).
"""

from __future__ import annotations

import torch

from turngym.config.algorithms import (
    AggregationMode,
    DualClipPPOConfig,
    GSPOConfig,
    PPOClipConfig,
)

from .registry import get_kl_estimator, register_kl_estimator, register_policy_loss

#: verl's bound on log pi - log pi_old before exp in PPO's ratio (``compute_policy_loss``)
PPO_LOG_RATIO_BOUND = 20.0
#: verl's upper bound on GSPO's sequence log-ratio before exp (``compute_policy_loss_gspo``)
GSPO_LOG_RATIO_MAX = 10.0


def importance_ratio(logprobs: torch.Tensor, old_logprobs: torch.Tensor) -> torch.Tensor:
    """r = exp(clamp(log pi - log pi_old, -20, 20)), as verl clamps it before ``exp``.

    Without the clamp a log-ratio of 100 overflows float32 (an inf loss, a NaN gradient once
    a ``where`` or ``min`` meets it); with it a unit whose ratio left the bound is flat there
    (gradient 0), which PPO's clip would have made flat anyway.
    """
    log_ratio = torch.clamp(logprobs - old_logprobs, -PPO_LOG_RATIO_BOUND, PPO_LOG_RATIO_BOUND)
    return torch.exp(log_ratio)


@register_policy_loss("ppo_clip")
def ppo_clip(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    config: PPOClipConfig | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate (Schulman et al., 2017), per unit.

    r = exp(log pi(a|s) - log pi_old(a|s)), the log-ratio clamped to [-20, 20] first as verl
    does (:func:`importance_ratio`); L = -min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A).
    Returns the per-unit loss and, per unit, whether clipping was active. ``mask`` is unused
    (every unit's loss stands alone); sequence-level losses such as GSPO need it.
    """
    config = config or PPOClipConfig()
    ratio = importance_ratio(logprobs, old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - config.clip_eps_low, 1 + config.clip_eps_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    return loss, {"clipped": (clipped < unclipped).float()}


#: verl's bounds for k3 (``kl_penalty``'s ``low_var_kl``): on log_r, then on the estimate
K3_LOG_RATIO_BOUND = 20.0
K3_BOUND = 10.0


@register_kl_estimator("k1")
def kl_k1(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """k1 = log pi - log pi_ref (Schulman, 2020): unbiased, high variance, can be negative."""
    return logprobs - ref_logprobs


@register_kl_estimator("abs")
def kl_abs(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """abs = |log pi - log pi_ref| (verl's ``abs``): k1's magnitude, never negative."""
    return (logprobs - ref_logprobs).abs()


@register_kl_estimator("k2")
def kl_k2(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """k2 = (log pi_ref - log pi)^2 / 2 (Schulman, 2020; verl's ``mse``)."""
    return 0.5 * (ref_logprobs - logprobs).square()


@register_kl_estimator("k3")
def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """k3 = exp(log_r) - log_r - 1 with log_r = log pi_ref - log pi (Schulman, 2020), as verl's
    ``low_var_kl`` bounds it: log_r clamped to [-20, 20], then k3 to [-10, 10].

    Unbounded, log pi = -30 and log pi_ref = -4 give e^26 - 27 = 1.96e11 and a gradient as
    large; bounded, 10 with gradient 0.
    """
    log_r = torch.clamp(ref_logprobs - logprobs, -K3_LOG_RATIO_BOUND, K3_LOG_RATIO_BOUND)
    return torch.clamp(torch.exp(log_r) - log_r - 1, -K3_BOUND, K3_BOUND)


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-unit estimate of KL(pi || pi_ref) from samples of pi by the registered estimator
    ``kind`` (``k1``, ``abs``, ``k2``, ``k3``); the loss term and ``kl_in_reward`` both use it."""
    return get_kl_estimator(kind)(logprobs, ref_logprobs)


def weighted_token_mean(
    values: torch.Tensor, mask: torch.Tensor, sample_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """sum_i w_i sum_t m_it x_it / sum_i w_i sum_t m_it (token-mean; w = 1 by default)."""
    weights = mask if sample_weights is None else mask * sample_weights[:, None]
    return (values * weights).sum() / weights.sum().clamp_min(1e-8)


@register_policy_loss("ppo_dual_clip")
def ppo_dual_clip(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    config: DualClipPPOConfig | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Dual-clip PPO (Ye et al., 2020), per unit.

    L_clip = max(-r * A, -clip(r, 1 - eps_low, 1 + eps_high) * A);
    L = min(L_clip, -c * A) where A < 0, else L_clip. Bounds the loss of a unit whose ratio
    grew large while its advantage is negative.
    """
    config = config or DualClipPPOConfig()
    clip_loss, metrics = ppo_clip(logprobs, old_logprobs, advantages, config)
    loss_cap = -config.dual_clip_c * advantages
    dual_clipped = (advantages < 0) & (loss_cap < clip_loss)
    loss = torch.where(dual_clipped, loss_cap, clip_loss)
    return loss, {**metrics, "dual_clipped": dual_clipped.float()}


@register_policy_loss("gspo")
def gspo(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    config: GSPOConfig | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GSPO (Zheng et al., 2025): a sequence-level importance ratio, per unit.

    s_i = exp(1/|y_i| sum_t m_t (log pi(y_it) - log pi_old(y_it))), the geometric mean of the
    token ratios; per token, s_it = sg[s_i] * pi(y_it) / sg[pi(y_it)] (same value, the
    gradient of each token's own log-prob); L_it = max(-s_it * A, -clip(s_it, 1 - eps_low,
    1 + eps_high) * A). The sequence log-ratio is clamped at 10 before ``exp``, as verl does.
    Aggregate with ``aggregate_loss(loss, mask, GSPO_AGGREGATION)`` (seq-mean-token-mean), as
    the paper and verl always do; the run config fills ``algo.loss_aggregation`` with it for
    ``policy_loss: gspo`` and refuses any other.
    """
    config = config or GSPOConfig()
    mask = torch.ones_like(logprobs) if mask is None else mask
    lengths = mask.sum(dim=-1).clamp_min(1)
    seq_log_ratio = ((logprobs - old_logprobs) * mask).sum(dim=-1) / lengths
    token_log_ratio = logprobs - logprobs.detach() + seq_log_ratio.detach().unsqueeze(-1)
    ratio = torch.exp(token_log_ratio.clamp(max=GSPO_LOG_RATIO_MAX))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - config.clip_eps_low, 1 + config.clip_eps_high)
    loss = torch.maximum(unclipped, clipped)
    return loss, {"clipped": (clipped > unclipped).float(), "sequence_ratio": ratio.detach()}


def aggregate_loss(
    loss: torch.Tensor,
    mask: torch.Tensor,
    mode: AggregationMode,
    norm_constant: float | None = None,
) -> torch.Tensor:
    """Reduce a per-unit loss [B, L] to a scalar, as verl's ``agg_loss``.

    token-mean:              sum_it m_it l_it / sum_it m_it
    seq-mean-token-sum:      mean_i sum_t m_it l_it
    seq-mean-token-mean:     mean_i (sum_t m_it l_it / sum_t m_it)
    seq-mean-token-sum-norm: sum_it m_it l_it / C, C = ``norm_constant`` or the padded length L
                             (Dr. GRPO: a constant, not each sequence's length)
    Sequence means run over sequences with at least one unit; an empty mask gives 0.
    """
    masked = loss * mask
    if mode == "token-mean":
        return masked.sum() / mask.sum().clamp_min(1e-8)
    if mode == "seq-mean-token-sum-norm":
        return masked.sum() / (norm_constant if norm_constant is not None else mask.shape[-1])
    token_counts = mask.sum(dim=-1)
    if mode == "seq-mean-token-sum":
        per_sequence = masked.sum(dim=-1)
    elif mode == "seq-mean-token-mean":
        per_sequence = masked.sum(dim=-1) / token_counts.clamp_min(1e-8)
    else:
        raise ValueError(
            f"unknown loss aggregation {mode!r}; choose token-mean, seq-mean-token-sum, "
            "seq-mean-token-mean or seq-mean-token-sum-norm"
        )
    non_empty = (token_counts > 0).to(loss.dtype)
    return (per_sequence * non_empty).sum() / non_empty.sum().clamp_min(1.0)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """H = -sum_v p_v log p_v with p = softmax(z), over the last dim.

    Works from log_softmax, so large logits keep their precision and -inf logits (masked
    vocabulary) add 0 rather than NaN.
    """
    log_probs = torch.log_softmax(logits, dim=-1).clamp_min(torch.finfo(logits.dtype).min)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def per_sample_terms(
    unit_values: torch.Tensor, mask: torch.Tensor, mode: AggregationMode
) -> torch.Tensor:
    """What each sample adds to the numerator of ``mode``: sum_t m_it x_it, or for
    seq-mean-token-mean sum_t m_it x_it / sum_t m_it. With :func:`aggregation_denominator` this
    splits :func:`aggregate_loss` so that a mini-batch can skip samples whose terms are 0 and
    still divide by the whole mini-batch's denominator (and weigh samples: w_i)."""
    sums = (unit_values * mask).sum(dim=-1)
    if mode == "seq-mean-token-mean":
        return sums / mask.sum(dim=-1).clamp_min(1e-8)
    return sums


def aggregation_denominator(
    unit_counts: list[int],
    weights: list[float],
    mode: AggregationMode,
    norm_constant: float | None = None,
) -> float:
    """The divisor of ``mode`` over a whole mini-batch of samples with ``unit_counts`` units.

    token-mean: sum_i w_i n_i; seq-mean-token-sum and seq-mean-token-mean: sum_i w_i over
    samples with n_i > 0; seq-mean-token-sum-norm: ``norm_constant`` C, which must be given: a
    constant (verl: the configured maximum response length), never the longest sample of the
    mini-batch, so that a sample weighs the same whatever it is batched with (Dr. GRPO).
    """
    if mode == "seq-mean-token-sum-norm":
        if norm_constant is None:
            raise ValueError(
                "seq-mean-token-sum-norm needs norm_constant, the fixed C of sum / C "
                "(verl: the configured maximum response length; see sequence_norm_constant)"
            )
        total = norm_constant
    elif mode == "token-mean":
        total = sum(w * n for w, n in zip(weights, unit_counts, strict=True))
    else:
        total = sum(w for w, n in zip(weights, unit_counts, strict=True) if n > 0)
    return float(total) if total > 0 else 1.0
