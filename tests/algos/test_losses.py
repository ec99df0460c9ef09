"""Policy losses and loss aggregation against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from turngym.algos.losses import (
    GSPO_AGGREGATION,
    DualClipPPOConfig,
    aggregate_loss,
    entropy_from_logits,
    gspo,
    ppo_dual_clip,
)
from turngym.algos.registry import get_policy_loss


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
