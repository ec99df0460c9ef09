"""Preference losses against values worked out by hand from each docstring's equation."""

from __future__ import annotations

import math

import pytest
import torch

from turngym.algos.preference import (
    DMPOConfig,
    DPOConfig,
    KTOBatch,
    LabelSmoothingConfig,
    PreferenceBatch,
    cdpo,
    dmpo,
    dmpo_turn_weights,
    dpo,
    hinge,
    ipo,
    kto,
    kto_no_kl,
    orpo,
    robust_dpo,
    sequential_kl_from_logits,
    simpo,
    tdpo1,
    tdpo2,
)
from turngym.algos.registry import get_preference_loss


def tensor(rows: list[list[float]], requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32, requires_grad=requires_grad)


def softplus_neg(x: float) -> float:
    """-log sigmoid(x) = log(1 + e^-x), the expected value of a logistic loss."""
    return math.log1p(math.exp(-x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def pair(
    policy_chosen: list[float],
    policy_rejected: list[float],
    ref_chosen: list[float] | None = None,
    ref_rejected: list[float] | None = None,
    chosen_mask: list[float] | None = None,
    rejected_mask: list[float] | None = None,
    **extra: torch.Tensor,
) -> PreferenceBatch:
    """One (chosen, rejected) pair from per-token lists; masks default to all ones."""
    return PreferenceBatch(
        policy_chosen=tensor([policy_chosen], requires_grad=True),
        policy_rejected=tensor([policy_rejected], requires_grad=True),
        chosen_mask=tensor([chosen_mask or [1.0] * len(policy_chosen)]),
        rejected_mask=tensor([rejected_mask or [1.0] * len(policy_rejected)]),
        ref_chosen=None if ref_chosen is None else tensor([ref_chosen]),
        ref_rejected=None if ref_rejected is None else tensor([ref_rejected]),
        **extra,
    )


# ----------------------------------------------------------------------------- DPO family


def dpo_pair() -> PreferenceBatch:
    # sums: pi_w = -3, ref_w = -4, pi_l = -3 (third token masked), ref_l = -2
    return pair(
        [-1.0, -2.0],
        [-2.0, -1.0, -9.0],
        [-1.5, -2.5],
        [-1.0, -1.0, 0.0],
        rejected_mask=[1.0, 1.0, 0.0],
    )


def test_dpo_value():
    loss, metrics = dpo(dpo_pair())
    # r_w = 0.1 * (-3 + 4) = 0.1; r_l = 0.1 * (-3 + 2) = -0.1
    assert loss.item() == pytest.approx(softplus_neg(0.2), rel=1e-6)
    assert metrics["reward_accuracy"].item() == 1.0


def test_dpo_gradient_matches_beta_sigmoid():
    batch = dpo_pair()
    loss, _ = dpo(batch)
    loss.sum().backward()
    # d loss / d log pi(y_w) = -beta * sigmoid(r_l - r_w), the same for every labelled token
    grad = 0.1 * sigmoid(-0.1 - 0.1)
    torch.testing.assert_close(batch.policy_chosen.grad, tensor([[-grad, -grad]]))
    torch.testing.assert_close(batch.policy_rejected.grad, tensor([[grad, grad, 0.0]]))


def test_dpo_empty_rejected_response_and_missing_reference():
    batch = pair([-1.0], [-5.0], [-2.0], [-1.0], rejected_mask=[0.0])
    loss, _ = dpo(batch)
    assert loss.item() == pytest.approx(softplus_neg(0.1 * (-1 + 2)), rel=1e-6)
    with pytest.raises(ValueError, match="dpo needs PreferenceBatch.ref_chosen"):
        dpo(pair([-1.0], [-1.0]))


def test_ipo_uses_length_averaged_logps():
    batch = pair(
        [-1.0, -3.0], [-3.0, -3.0, 0.0], [-2.0, -3.0], [-2.0, -2.0, 0.0], rejected_mask=[1, 1, 0]
    )
    # averages: chosen -2 vs ref -2.5 -> 0.5; rejected -3 vs ref -2 -> -1; h = 1.5
    loss, _ = ipo(batch)
    assert loss.item() == pytest.approx((1.5 - 1 / (2 * 0.1)) ** 2, rel=1e-6)


def test_ipo_logs_tau_times_the_averaged_log_ratios():
    batch = pair([-1.0, -3.0], [-3.0, -3.0], [-2.0, -3.0], [-2.0, -2.0])
    _, metrics = ipo(batch)  # averaged log-ratios 0.5 and -1 (TRL 0.26), not summed 1 and -2
    torch.testing.assert_close(metrics["chosen_rewards"], torch.tensor([0.05]))
    torch.testing.assert_close(metrics["rejected_rewards"], torch.tensor([-0.1]))


def test_cdpo_mixes_the_loss_of_both_labels():
    loss, metrics = cdpo(dpo_pair())  # beta h = 0.2 as in test_dpo_value, epsilon 0.1
    expected = 0.9 * softplus_neg(0.2) + 0.1 * softplus_neg(-0.2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    plain, _ = cdpo(dpo_pair(), LabelSmoothingConfig(label_smoothing=0.0))
    assert plain.item() == pytest.approx(dpo(dpo_pair())[0].item(), rel=1e-6)
    assert metrics["reward_accuracy"].item() == 1.0


def test_robust_dpo_debiases_flipped_labels():
    loss, _ = robust_dpo(dpo_pair(), LabelSmoothingConfig(label_smoothing=0.2))
    expected = (0.8 * softplus_neg(0.2) - 0.2 * softplus_neg(-0.2)) / (1 - 0.4)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_hinge_is_zero_past_the_margin():
    loss, _ = hinge(dpo_pair())
    assert loss.item() == pytest.approx(1 - 0.2, rel=1e-6)
    batch = dpo_pair()
    far, _ = hinge(batch, DPOConfig(beta=10.0))  # beta h = 20 > 1: no loss, no gradient
    far.sum().backward()
    assert far.item() == 0.0 and not batch.policy_chosen.grad.any()


def test_label_smoothing_must_stay_below_one_half():
    with pytest.raises(ValueError, match="less than 0.5"):
        LabelSmoothingConfig(label_smoothing=0.5)


def test_simpo_average_logps_and_margin():
    loss, _ = simpo(pair([-0.5, -1.5], [-2.0, -2.0, -2.0]))
    # beta 2, gamma 1: 2 * (-1) - 2 * (-2) - 1 = 1
    assert loss.item() == pytest.approx(softplus_neg(1.0), rel=1e-6)


def test_simpo_all_equal_responses_give_the_margin_loss():
    loss, _ = simpo(pair([-1.0], [-1.0]))
    assert loss.item() == pytest.approx(softplus_neg(-1.0), rel=1e-6)


def test_orpo_odds_ratio_and_nll():
    half, quarter = math.log(0.5), math.log(0.25)
    loss, metrics = orpo(pair([half, half], [quarter]))
    # odds(y_w) = 0.5 / 0.5 = 1, odds(y_l) = 0.25 / 0.75 = 1/3: log odds ratio = log 3
    assert metrics["log_odds_ratio"].item() == pytest.approx(math.log(3.0), rel=1e-5)
    expected = -half - 0.1 * math.log(sigmoid(math.log(3.0)))  # sigmoid(log 3) = 3/4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def kto_batch(kl_logratios: tuple[float, float]) -> KTOBatch:
    return KTOBatch(
        policy=tensor([[-1.0, -1.0], [-2.0, 0.0]], requires_grad=True),
        reference=tensor([[-1.5, -1.5], [-1.0, 0.0]]),
        mask=tensor([[1.0, 1.0], [1.0, 0.0]]),  # log-ratios r = 1 and -1
        desirable=torch.tensor([True, False]),
        policy_kl=tensor([[kl_logratios[0]], [kl_logratios[1]]], requires_grad=True),
        reference_kl=tensor([[0.0], [0.0]]),
        kl_mask=tensor([[1.0], [1.0]]),
    )


def test_kto_reference_point():
    loss, metrics = kto(kto_batch((1.0, 0.0)))  # z0 = mean(1, 0) = 0.5
    expected = [1 - sigmoid(0.1 * (1 - 0.5)), 1 - sigmoid(0.1 * (0.5 + 1))]
    torch.testing.assert_close(loss, torch.tensor(expected))
    assert metrics["kl"].item() == pytest.approx(0.5)


def test_kto_reference_point_is_clamped_at_zero_and_detached():
    batch = kto_batch((-1.0, -1.0))
    loss, _ = kto(batch)  # z0 = max(0, -1) = 0
    torch.testing.assert_close(loss, torch.tensor([1 - sigmoid(0.1), 1 - sigmoid(0.1)]))
    loss.sum().backward()
    assert batch.policy_kl.grad is None
    assert batch.policy.grad is not None


def test_kto_no_kl_has_reference_point_zero_and_needs_no_mismatched_pairs():
    batch = kto_batch((1.0, 0.0))  # with z0 = 0.5 under kto; kto_no_kl ignores them
    loss, metrics = kto_no_kl(batch)
    torch.testing.assert_close(loss, torch.tensor([1 - sigmoid(0.1), 1 - sigmoid(0.1)]))
    assert metrics["kl"].item() == 0.0
    bare = KTOBatch(batch.policy, batch.reference, batch.mask, batch.desirable)
    torch.testing.assert_close(kto_no_kl(bare)[0], loss)
    with pytest.raises(ValueError, match="kto needs KTOBatch.policy_kl"):
        kto(bare)


def test_sequential_kl_from_logits():
    ref_logits = torch.tensor([[[0.0, 0.0], [1.0, 2.0]]])
    policy_logits = torch.tensor([[[0.0, math.log(3.0)], [1.0, 2.0]]])
    # ref (1/2, 1/2) vs policy (1/4, 3/4): 0.5 log 2 + 0.5 log(2/3); identical rows give 0
    expected = torch.tensor([[0.5 * math.log(4 / 3), 0.0]])
    torch.testing.assert_close(sequential_kl_from_logits(policy_logits, ref_logits), expected)


def tdpo_pair() -> PreferenceBatch:
    # log-ratio margins: chosen 0.5 + 0.5 = 1, rejected -1; D_SeqKL: chosen 0.5, rejected 0.4
    return pair(
        [-1.0, -1.0],
        [-2.0],
        [-1.5, -1.5],
        [-1.0],
        chosen_sequential_kl=tensor([[0.2, 0.3]], requires_grad=True),
        rejected_sequential_kl=tensor([[0.4]], requires_grad=True),
    )


def test_tdpo1():
    loss, _ = tdpo1(tdpo_pair())
    assert loss.item() == pytest.approx(softplus_neg(0.1 * ((1 + 1) - (0.4 - 0.5))), rel=1e-6)


def test_tdpo2_value_and_stop_gradient_on_the_chosen_kl():
    batch = tdpo_pair()
    loss, _ = tdpo2(batch)
    logit = 0.1 * ((1 + 1) - 0.5 * (0.4 - 0.5))
    assert loss.item() == pytest.approx(softplus_neg(logit), rel=1e-6)
    loss.sum().backward()
    assert batch.chosen_sequential_kl.grad is None
    # d loss / d D_SeqKL(y_l) = sigmoid(-logit) * beta * alpha
    expected = sigmoid(-logit) * 0.1 * 0.5
    torch.testing.assert_close(batch.rejected_sequential_kl.grad, tensor([[expected]]))


# ----------------------------------------------------------------------------- DMPO


def test_dmpo_turn_weights_by_hand():
    turn_index = torch.tensor([[0, 1, 2, 2, 7]])
    mask = tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])  # the padded token's index does not count
    gamma = 0.7
    phi = [1.0, gamma * (1 - gamma**2) / (1 - gamma**3), gamma**2 * (1 - gamma) / (1 - gamma**3)]
    expected = tensor([[phi[0], phi[1], phi[2], phi[2], 0.0]])
    torch.testing.assert_close(dmpo_turn_weights(turn_index, mask, gamma), expected)


def test_dmpo_turn_weights_gamma_one():
    turn_index = torch.tensor([[0, 1, 2]])
    expected = tensor([[1.0, 2 / 3, 1 / 3]])
    torch.testing.assert_close(
        dmpo_turn_weights(turn_index, tensor([[1.0, 1.0, 1.0]]), 1.0), expected
    )


def dmpo_pair() -> PreferenceBatch:
    # chosen: 2 turns, per-token log-ratios 0.5, 0.5 (turn 0) and -1 (turn 1)
    # rejected: 3 turns, per-token log-ratios -1, 0, 1, then a padded token
    return pair(
        [-1.0, -1.0, -2.0],
        [-2.0, -1.0, -1.0, 0.0],
        [-1.5, -1.5, -1.0],
        [-1.0, -1.0, -2.0, 0.0],
        rejected_mask=[1.0, 1.0, 1.0, 0.0],
        chosen_turn_index=torch.tensor([[0, 0, 1]]),
        rejected_turn_index=torch.tensor([[0, 1, 2, 5]]),
    )


def test_dmpo_different_lengths_by_hand():
    loss, _ = dmpo(dmpo_pair())
    chosen = 0.5 + 0.5 - 0.7 * (1 - 0.7) / (1 - 0.7**2)  # N = 2
    rejected = -1.0 + 0.0 + 0.7**2 * (1 - 0.7) / (1 - 0.7**3)  # N = 3
    assert loss.item() == pytest.approx(softplus_neg(0.1 * (chosen - rejected)), rel=1e-6)


def test_dmpo_gamma_one():
    loss, _ = dmpo(dmpo_pair(), DMPOConfig(gamma=1.0))
    chosen = 0.5 + 0.5 - 1.0 * (1 / 2)
    rejected = -1.0 + 0.0 * (2 / 3) + 1.0 * (1 / 3)
    assert loss.item() == pytest.approx(softplus_neg(0.1 * (chosen - rejected)), rel=1e-6)


def test_dmpo_gradient_is_the_turn_weight_times_the_dpo_factor():
    batch = dmpo_pair()
    loss, _ = dmpo(batch)
    loss.sum().backward()
    chosen = 1.0 - 0.21 / 0.51
    rejected = -1.0 + 0.147 / 0.657
    factor = -0.1 * sigmoid(-0.1 * (chosen - rejected))
    expected = tensor([[factor, factor, factor * 0.21 / 0.51]])
    torch.testing.assert_close(batch.policy_chosen.grad, expected)


def test_dmpo_empty_rejected_mask_contributes_zero():
    batch = pair(
        [-1.0],
        [-3.0],
        [-2.0],
        [-1.0],
        rejected_mask=[0.0],
        chosen_turn_index=torch.tensor([[0]]),
        rejected_turn_index=torch.tensor([[0]]),
    )
    loss, _ = dmpo(batch)
    assert loss.item() == pytest.approx(softplus_neg(0.1 * 1.0), rel=1e-6)


def test_preference_losses_are_registered():
    for name, fn in [("dpo", dpo), ("ipo", ipo), ("simpo", simpo), ("orpo", orpo)]:
        assert get_preference_loss(name) is fn
    for name, fn in [("kto", kto), ("tdpo1", tdpo1), ("tdpo2", tdpo2), ("dmpo", dmpo)]:
        assert get_preference_loss(name) is fn
    new = [("cdpo", cdpo), ("robust_dpo", robust_dpo), ("hinge", hinge), ("kto_no_kl", kto_no_kl)]
    for name, fn in new:
        assert get_preference_loss(name) is fn
