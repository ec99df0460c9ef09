"""Policy losses and loss aggregation against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from turngym.algos.losses import (
    DualClipPPOConfig,
    aggregate_loss,
    aggregation_denominator,
    entropy_from_logits,
    gspo,
    kl_estimate,
    ppo_clip,
    ppo_dual_clip,
)
from turngym.algos.registry import get_kl_estimator, get_policy_loss
from turngym.config.algorithms import GSPO_AGGREGATION, sequence_norm_constant


def test_dual_clip_caps_the_loss_of_negative_advantages():
    logprobs = torch.log(torch.tensor([5.0, 5.0, 0.5]))
    old = torch.zeros(3)
    advantages = torch.tensor([-1.0, 1.0, -1.0])
    loss, metrics = ppo_dual_clip(logprobs, old, advantages)
    # r=5, A=-1: max(5, 1.2) = 5, capped at c * 1 = 3; r=5, A=1: max(-5, -1.2) = -1.2;
    # r=0.5, A=-1: max(0.5, 0.8) = 0.8, under the cap
    torch.testing.assert_close(loss, torch.tensor([3.0, -1.2, 0.8]))
    torch.testing.assert_close(metrics["dual_clipped"], torch.tensor([1.0, 0.0, 0.0]))


def test_dual_clip_constant_is_configurable():
    loss, _ = ppo_dual_clip(
        torch.log(torch.tensor([5.0])),
        torch.zeros(1),
        torch.tensor([-2.0]),
        DualClipPPOConfig(dual_clip_c=4.0),
    )
    torch.testing.assert_close(loss, torch.tensor([8.0]))  # min(max(10, 2.4), 4 * 2)


def test_gspo_sequence_ratio_value_and_gradient():
    old = torch.zeros(2, 3)
    logprobs = torch.tensor([[-0.1, -0.3, 5.0], [0.2, 0.2, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    advantages = torch.ones(2, 3)
    loss, _ = gspo(logprobs, old, advantages, mask=mask)
    # s_0 = exp(mean(-0.1, -0.3)) = exp(-0.2) < 1 - 3e-4: the unclipped term -s_0 is larger.
    # s_1 = exp(0.2) > 1 + 4e-4: the clipped term -(1 + 4e-4) is larger (no gradient).
    s0 = math.exp(-0.2)
    torch.testing.assert_close(loss[0, :2], torch.tensor([-s0, -s0]))
    torch.testing.assert_close(loss[1, :2], torch.tensor([-(1 + 4e-4)] * 2))
    total = aggregate_loss(loss, mask, GSPO_AGGREGATION)
    torch.testing.assert_close(total, torch.tensor((-s0 - (1 + 4e-4)) / 2))
    total.backward()
    # d/dlogp_t of mean_i mean_t (-s_i) = -s_0 / |y_0| / B for the unclipped sequence
    expected_grad = torch.tensor([[-s0 / 4, -s0 / 4, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(logprobs.grad, expected_grad)


LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("token-mean", (1 + 2 + 3 + 4) / 4),
        ("seq-mean-token-sum", (6 + 4) / 2),  # the empty third row is left out
        ("seq-mean-token-mean", (6 / 3 + 4 / 1) / 2),
        ("seq-mean-token-sum-norm", (6 + 4) / 3),  # divided by the padded length
    ],
)
def test_aggregate_loss_modes(mode, expected):
    assert aggregate_loss(LOSS, MASK, mode).item() == pytest.approx(expected)


def test_aggregate_loss_norm_constant_and_empty_mask():
    assert aggregate_loss(LOSS, MASK, "seq-mean-token-sum-norm", norm_constant=5.0).item() == 2.0
    empty = torch.zeros_like(MASK)
    for mode in ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"]:
        assert aggregate_loss(LOSS, empty, mode).item() == 0.0


def test_aggregate_loss_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown loss aggregation 'seq-sum'"):
        aggregate_loss(LOSS, MASK, "seq-sum")


def test_entropy_from_logits():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e9, -1e9]])
    expected = torch.tensor([math.log(4.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))])
    torch.testing.assert_close(entropy_from_logits(logits), expected)
    stable = entropy_from_logits(torch.tensor([1000.0, 1000.0]))
    assert stable.item() == pytest.approx(math.log(2.0))


def test_policy_losses_are_registered():
    assert get_policy_loss("ppo_dual_clip") is ppo_dual_clip
    assert get_policy_loss("gspo") is gspo


def test_entropy_ignores_masked_vocabulary_without_nan():
    logits = torch.tensor([0.0, 0.0, float("-inf")], requires_grad=True)
    entropy = entropy_from_logits(logits)
    entropy.backward()
    assert entropy.item() == pytest.approx(math.log(2.0))
    assert torch.isfinite(logits.grad).all()


# ----------------------------------------------------------------------------- clamps (verl)


def test_ppo_ratio_is_clamped_before_exp():
    # log-ratio 100 in float32: unclamped, exp overflows to inf (inf loss, NaN dual-clip grad)
    for loss_fn, expected in [(ppo_clip, [-1.2, math.exp(20.0)]), (ppo_dual_clip, [-1.2, 3.0])]:
        logprobs = torch.tensor([100.0, 100.0], requires_grad=True)
        loss, _ = loss_fn(logprobs, torch.zeros(2), torch.tensor([1.0, -1.0]))
        # A = 1: clipped at 1.2; A = -1: r = e^20 after the clamp (dual clip: capped at 3)
        torch.testing.assert_close(loss, torch.tensor(expected))
        loss.sum().backward()
        torch.testing.assert_close(logprobs.grad, torch.zeros(2))


def test_gspo_ratio_is_clamped_before_exp():
    logprobs = torch.tensor([[100.0, 100.0]], requires_grad=True)
    mask = torch.ones(1, 2)
    loss, metrics = gspo(logprobs, torch.zeros(1, 2), -torch.ones(1, 2), mask=mask)
    # s = exp(min(100, 10)) = e^10 > 1 + 4e-4; A = -1: max(e^10, 1 + 4e-4) = e^10, flat
    torch.testing.assert_close(loss, torch.full((1, 2), math.exp(10.0)))
    aggregate_loss(loss, mask, GSPO_AGGREGATION).backward()
    torch.testing.assert_close(logprobs.grad, torch.zeros(1, 2))
    assert torch.isfinite(metrics["sequence_ratio"]).all()


@pytest.mark.parametrize("name", ["ppo_clip", "ppo_dual_clip", "gspo"])
def test_extreme_log_ratios_give_a_finite_loss_and_finite_gradients(name):
    old = torch.zeros(3, 4)
    logprobs = torch.tensor(
        [[100.0, -100.0, 0.05, 0.0], [-0.1, 80.0, 0.0, 0.0], [0.02, -0.02, -300.0, 0.0]],
        requires_grad=True,
    )
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    advantages = torch.tensor([1.0, -1.0, 0.5])[:, None].expand(3, 4)
    loss, _ = get_policy_loss(name)(logprobs, old, advantages, mask=mask)
    total = aggregate_loss(loss, mask, GSPO_AGGREGATION if name == "gspo" else "token-mean")
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logprobs.grad).all()
    if name != "gspo":  # an ordinary unit inside the clip range still learns
        assert logprobs.grad[0, 2] != 0


def test_k3_is_bounded_as_verl_and_flat_beyond_the_bounds():
    logprobs = torch.tensor([-30.0, -1.0], requires_grad=True)
    ref = torch.tensor([-4.0, -2.0])
    k3 = kl_estimate(logprobs, ref, "k3")
    # log_r = 26 -> 20 -> e^20 - 21 -> clamped to 10; log_r = -1: e^-1 + 1 - 1
    torch.testing.assert_close(k3, torch.tensor([10.0, math.exp(-1.0)]))
    k3.sum().backward()
    # d k3 / d log pi = 1 - e^log_r inside the bounds, 0 beyond them
    torch.testing.assert_close(logprobs.grad, torch.tensor([0.0, 1 - math.exp(-1.0)]))


def test_kl_estimators_by_hand():
    logprobs, ref = torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0])
    # log pi - log pi_ref = 1, -2
    torch.testing.assert_close(kl_estimate(logprobs, ref, "k1"), torch.tensor([1.0, -2.0]))
    torch.testing.assert_close(kl_estimate(logprobs, ref, "abs"), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(kl_estimate(logprobs, ref, "k2"), torch.tensor([0.5, 2.0]))
    with pytest.raises(KeyError, match="unknown KL estimator 'k4'"):
        kl_estimate(logprobs, ref, "k4")
    assert get_kl_estimator("abs")(torch.tensor([0.0]), torch.tensor([0.0])).item() == 0.0


@pytest.mark.parametrize("kind", ["k1", "abs", "k2", "k3"])
def test_kl_estimators_stay_finite_on_extreme_log_ratios(kind):
    logprobs = torch.tensor([-60.0, -1e-4, -0.5], requires_grad=True)
    ref = torch.tensor([-1e-4, -60.0, -0.5])
    kl_estimate(logprobs, ref, kind).sum().backward()
    assert torch.isfinite(logprobs.grad).all()


# ----------------------------------------------------------------------------- aggregation


def test_seq_mean_token_sum_norm_divides_by_the_given_constant():
    # unit counts 1 and 3; whatever the longest sample of the mini-batch, C = 8
    assert aggregation_denominator([1, 3], [1.0, 1.0], "seq-mean-token-sum-norm", 8.0) == 8.0
    with pytest.raises(ValueError, match="needs norm_constant"):
        aggregation_denominator([1, 3], [1.0, 1.0], "seq-mean-token-sum-norm")
    assert sequence_norm_constant("generate", 64) == 64.0
    assert sequence_norm_constant("choose", 64) == 1.0
