"""Preference-optimization losses: DPO and its offline relatives, and DMPO for multi-turn agents.

Inputs are per-token log-probabilities of the labelled (response) tokens with their masks, so a
trainer computes them once with its own model call. Each loss returns the loss per example [B]
(average it for the step) and detached metrics. Sequence log-probabilities are sums over the
mask unless a loss says it uses averages (IPO, SimPO, ORPO, as TRL does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from turngym.config.algorithms import (
    DMPOConfig,
    DPOConfig,
    IPOConfig,
    KTOConfig,
    LabelSmoothingConfig,
    ORPOConfig,
    SimPOConfig,
    TDPOConfig,
)

from .registry import register_preference_loss

Metrics = dict[str, torch.Tensor]


@dataclass
class PreferenceBatch:
    """B (chosen y_w, rejected y_l) pairs. Chosen tensors are [B, L_w], rejected [B, L_l].

    ``*_turn_index`` (DMPO) holds, per token, the 0-based index of the assistant turn it
    belongs to. ``*_sequential_kl`` (TDPO) holds, per token, KL(pi_ref(.|x, y_<t) ||
    pi(.|x, y_<t)), see :func:`sequential_kl_from_logits`.
    """

    policy_chosen: torch.Tensor
    policy_rejected: torch.Tensor
    chosen_mask: torch.Tensor
    rejected_mask: torch.Tensor
    ref_chosen: torch.Tensor | None = None
    ref_rejected: torch.Tensor | None = None
    chosen_turn_index: torch.Tensor | None = None
    rejected_turn_index: torch.Tensor | None = None
    chosen_sequential_kl: torch.Tensor | None = None
    rejected_sequential_kl: torch.Tensor | None = None


@dataclass
class KTOBatch:
    """B unpaired examples [B, L], each desirable or not, plus B mismatched (prompt, completion)
    examples [B, L'] that estimate KTO's reference point z0 (``kto``; ``kto_no_kl`` has z0 = 0
    and leaves them None)."""

    policy: torch.Tensor
    reference: torch.Tensor
    mask: torch.Tensor
    desirable: torch.Tensor  # [B] bool
    policy_kl: torch.Tensor | None = None
    reference_kl: torch.Tensor | None = None
    kl_mask: torch.Tensor | None = None


def _required(
    value: torch.Tensor | None, field: str, loss: str, batch: str = "PreferenceBatch"
) -> torch.Tensor:
    if value is None:
        raise ValueError(f"{loss} needs {batch}.{field}; it was None")
    return value


def sequence_logps(
    logps: torch.Tensor, mask: torch.Tensor, token_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """log pi(y|x) = sum_t m_t w_t log pi(y_t | x, y_<t) (w = 1 unless weighted)."""
    weights = mask if token_weights is None else mask * token_weights
    return (logps * weights).sum(dim=-1)


def average_logps(logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1/|y| sum_t m_t log pi(y_t | x, y_<t); an empty response gives 0."""
    return sequence_logps(logps, mask) / mask.sum(dim=-1).clamp_min(1)


def sequential_kl_from_logits(
    policy_logits: torch.Tensor, ref_logits: torch.Tensor
) -> torch.Tensor:
    """Per position, KL(pi_ref || pi) = sum_v p_ref(v) (log p_ref(v) - log p(v)) (TDPO)."""
    ref_logps = torch.log_softmax(ref_logits, dim=-1)
    policy_logps = torch.log_softmax(policy_logits, dim=-1)
    return (ref_logps.exp() * (ref_logps - policy_logps)).sum(dim=-1)


def _reward_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> Metrics:
    return {
        "chosen_rewards": chosen_rewards.detach(),
        "rejected_rewards": rejected_rewards.detach(),
        "reward_accuracy": (chosen_rewards > rejected_rewards).float().detach(),
    }


def dpo_rewards(batch: PreferenceBatch, beta: float, loss: str) -> tuple[torch.Tensor, ...]:
    """r_w, r_l = beta * log(pi(y|x) / pi_ref(y|x)) with summed token log-probabilities; their
    difference is beta * h, h the DPO margin (TRL's ``logits``)."""
    ref_chosen = _required(batch.ref_chosen, "ref_chosen", loss)
    ref_rejected = _required(batch.ref_rejected, "ref_rejected", loss)
    chosen_rewards = beta * (
        sequence_logps(batch.policy_chosen, batch.chosen_mask)
        - sequence_logps(ref_chosen, batch.chosen_mask)
    )
    rejected_rewards = beta * (
        sequence_logps(batch.policy_rejected, batch.rejected_mask)
        - sequence_logps(ref_rejected, batch.rejected_mask)
    )
    return chosen_rewards, rejected_rewards


@register_preference_loss("dpo")
def dpo(batch: PreferenceBatch, config: DPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """DPO (Rafailov et al., 2023): L = -log sigmoid(r_w - r_l), r = beta * log(pi(y|x) /
    pi_ref(y|x)) with summed token log-probabilities (TRL's ``sigmoid``)."""
    config = config or DPOConfig()
    chosen_rewards, rejected_rewards = dpo_rewards(batch, config.beta, "dpo")
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards)
    return loss, _reward_metrics(chosen_rewards, rejected_rewards)


@register_preference_loss("cdpo")
def cdpo(
    batch: PreferenceBatch, config: LabelSmoothingConfig | None = None
) -> tuple[torch.Tensor, Metrics]:
    """Conservative DPO (cDPO, Mitchell, 2023): DPO trained on labels flipped with probability
    epsilon, L = -(1 - epsilon) log sigmoid(beta h) - epsilon log sigmoid(-beta h), with
    beta h = r_w - r_l as in :func:`dpo` (TRL's ``sigmoid`` with ``label_smoothing``)."""
    config = config or LabelSmoothingConfig()
    chosen_rewards, rejected_rewards = dpo_rewards(batch, config.beta, "cdpo")
    margin, epsilon = chosen_rewards - rejected_rewards, config.label_smoothing
    loss = -(1 - epsilon) * F.logsigmoid(margin) - epsilon * F.logsigmoid(-margin)
    return loss, _reward_metrics(chosen_rewards, rejected_rewards)


@register_preference_loss("robust_dpo")
def robust_dpo(
    batch: PreferenceBatch, config: LabelSmoothingConfig | None = None
) -> tuple[torch.Tensor, Metrics]:
    """Robust DPO (rDPO, Chowdhury et al., 2024), an unbiased loss under labels flipped with
    probability epsilon: L = ((1 - epsilon) l(beta h) - epsilon l(-beta h)) / (1 - 2 epsilon),
    l(x) = -log sigmoid(x), beta h = r_w - r_l as in :func:`dpo` (TRL's ``robust``)."""
    config = config or LabelSmoothingConfig()
    chosen_rewards, rejected_rewards = dpo_rewards(batch, config.beta, "robust_dpo")
    margin, epsilon = chosen_rewards - rejected_rewards, config.label_smoothing
    loss = (-(1 - epsilon) * F.logsigmoid(margin) + epsilon * F.logsigmoid(-margin)) / (
        1 - 2 * epsilon
    )
    return loss, _reward_metrics(chosen_rewards, rejected_rewards)


@register_preference_loss("hinge")
def hinge(batch: PreferenceBatch, config: DPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """The hinge loss of SLiC (Zhao et al., 2023) on DPO's margin: L = max(0, 1 - beta h),
    beta h = r_w - r_l as in :func:`dpo`; beta is 1/delta, delta the margin SLiC asks for
    (TRL's ``hinge``)."""
    config = config or DPOConfig()
    chosen_rewards, rejected_rewards = dpo_rewards(batch, config.beta, "hinge")
    loss = torch.relu(1 - (chosen_rewards - rejected_rewards))
    return loss, _reward_metrics(chosen_rewards, rejected_rewards)


@register_preference_loss("ipo")
def ipo(batch: PreferenceBatch, config: IPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """IPO (Azar et al., 2023), TRL's form: L = (h - 1 / (2 tau))^2 with
    h = (avg log pi_w - avg log pi_l) - (avg log ref_w - avg log ref_l), length-averaged.

    Logged rewards follow TRL 0.26: tau * (avg log pi - avg log ref) of each side, the terms
    of h itself, so ``reward_accuracy`` says whether the loss's own margin is positive (TRL's
    current trainer logs tau times the summed log-ratio instead; the loss is the same).
    """
    config = config or IPOConfig()
    ref_chosen = _required(batch.ref_chosen, "ref_chosen", "ipo")
    ref_rejected = _required(batch.ref_rejected, "ref_rejected", "ipo")
    chosen_logratio = average_logps(batch.policy_chosen, batch.chosen_mask) - average_logps(
        ref_chosen, batch.chosen_mask
    )
    rejected_logratio = average_logps(batch.policy_rejected, batch.rejected_mask) - average_logps(
        ref_rejected, batch.rejected_mask
    )
    loss = (chosen_logratio - rejected_logratio - 1 / (2 * config.beta)) ** 2
    return loss, _reward_metrics(config.beta * chosen_logratio, config.beta * rejected_logratio)


@register_preference_loss("simpo")
def simpo(
    batch: PreferenceBatch, config: SimPOConfig | None = None
) -> tuple[torch.Tensor, Metrics]:
    """SimPO (Meng et al., 2024), reference-free:
    L = -log sigmoid(beta * avg log pi(y_w|x) - beta * avg log pi(y_l|x) - gamma)."""
    config = config or SimPOConfig()
    chosen_rewards = config.beta * average_logps(batch.policy_chosen, batch.chosen_mask)
    rejected_rewards = config.beta * average_logps(batch.policy_rejected, batch.rejected_mask)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards - config.gamma)
    return loss, _reward_metrics(chosen_rewards, rejected_rewards)


def _log1m_exp(logp: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable near 0 and near -inf."""
    return torch.where(logp > -0.6931, torch.log(-torch.expm1(logp)), torch.log1p(-torch.exp(logp)))


@register_preference_loss("orpo")
def orpo(batch: PreferenceBatch, config: ORPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """ORPO (Hong et al., 2024), reference-free, with average log-probabilities p:
    L = -p_w - lambda * log sigmoid(log odds(y_w) - log odds(y_l)), odds(y) = e^p / (1 - e^p).

    The NLL term is per pair (the chosen response's average); TRL averages it over all chosen
    tokens of the batch instead, which weighs long responses more.
    """
    config = config or ORPOConfig()
    chosen = average_logps(batch.policy_chosen, batch.chosen_mask)
    rejected = average_logps(batch.policy_rejected, batch.rejected_mask)
    log_odds_ratio = (chosen - rejected) - (_log1m_exp(chosen) - _log1m_exp(rejected))
    loss = -chosen - config.beta * F.logsigmoid(log_odds_ratio)
    metrics = _reward_metrics(config.beta * chosen, config.beta * rejected)
    return loss, {**metrics, "log_odds_ratio": log_odds_ratio.detach()}


def kto_losses(
    batch: KTOBatch, config: KTOConfig, reference_point: torch.Tensor
) -> tuple[torch.Tensor, Metrics]:
    """KTO's per-example loss given z0 (see :func:`kto`)."""
    logratio = sequence_logps(batch.policy, batch.mask) - sequence_logps(
        batch.reference, batch.mask
    )
    desirable_loss = config.desirable_weight * (
        1 - torch.sigmoid(config.beta * (logratio - reference_point))
    )
    undesirable_loss = config.undesirable_weight * (
        1 - torch.sigmoid(config.beta * (reference_point - logratio))
    )
    loss = torch.where(batch.desirable, desirable_loss, undesirable_loss)
    return loss, {"rewards": (config.beta * logratio).detach(), "kl": reference_point}


@register_preference_loss("kto")
def kto(batch: KTOBatch, config: KTOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """KTO (Ethayarajh et al., 2024), TRL's form, with r = log pi(y|x) - log pi_ref(y|x):
    z0 = sg(max(0, mean over the mismatched pairs of r));
    L = lambda_D (1 - sigmoid(beta (r - z0))) if y is desirable,
        lambda_U (1 - sigmoid(beta (z0 - r))) if not.
    """
    config = config or KTOConfig()
    policy_kl = _required(batch.policy_kl, "policy_kl", "kto", "KTOBatch")
    reference_kl = _required(batch.reference_kl, "reference_kl", "kto", "KTOBatch")
    kl_mask = _required(batch.kl_mask, "kl_mask", "kto", "KTOBatch")
    kl_logratio = sequence_logps(policy_kl, kl_mask) - sequence_logps(reference_kl, kl_mask)
    return kto_losses(batch, config, kl_logratio.mean().clamp_min(0).detach())


@register_preference_loss("kto_no_kl")
def kto_no_kl(batch: KTOBatch, config: KTOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """KTO without the KL reference term: z0 = 0 in :func:`kto`, so
    L = lambda_D (1 - sigmoid(beta r)) if y is desirable, lambda_U (1 - sigmoid(-beta r)) if
    not (what TRL's KTO loss computes when it skips the KL estimate, ``calculate_KL=False``);
    no mismatched pairs are scored."""
    return kto_losses(batch, config or KTOConfig(), torch.zeros(()))


def _tdpo_terms(batch: PreferenceBatch, loss: str) -> tuple[torch.Tensor, ...]:
    """(u / beta, D_SeqKL(y_w), D_SeqKL(y_l), log-ratio of y_w, log-ratio of y_l), token sums."""
    ref_chosen = _required(batch.ref_chosen, "ref_chosen", loss)
    ref_rejected = _required(batch.ref_rejected, "ref_rejected", loss)
    chosen_kl = _required(batch.chosen_sequential_kl, "chosen_sequential_kl", loss)
    rejected_kl = _required(batch.rejected_sequential_kl, "rejected_sequential_kl", loss)
    chosen_margin = sequence_logps(batch.policy_chosen - ref_chosen, batch.chosen_mask)
    rejected_margin = sequence_logps(batch.policy_rejected - ref_rejected, batch.rejected_mask)
    return (
        chosen_margin - rejected_margin,
        sequence_logps(chosen_kl, batch.chosen_mask),
        sequence_logps(rejected_kl, batch.rejected_mask),
        chosen_margin,
        rejected_margin,
    )


@register_preference_loss("tdpo1")
def tdpo1(batch: PreferenceBatch, config: TDPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """TDPO1 (Zeng et al., 2024): L = -log sigmoid(u - delta), with
    u = beta log(pi(y_w)/ref(y_w)) - beta log(pi(y_l)/ref(y_l)) and
    delta = beta D_SeqKL(x, y_l; ref || pi) - beta D_SeqKL(x, y_w; ref || pi),
    D_SeqKL(x, y) = sum_t KL(ref(.|x, y_<t) || pi(.|x, y_<t))."""
    config = config or TDPOConfig()
    margin, chosen_kl, rejected_kl, chosen_margin, rejected_margin = _tdpo_terms(batch, "tdpo1")
    loss = -F.logsigmoid(config.beta * (margin - (rejected_kl - chosen_kl)))
    return loss, _reward_metrics(config.beta * chosen_margin, config.beta * rejected_margin)


@register_preference_loss("tdpo2")
def tdpo2(batch: PreferenceBatch, config: TDPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """TDPO2 (Zeng et al., 2024): L = -log sigmoid(u - alpha * delta_2), with u as in TDPO1 and
    delta_2 = beta D_SeqKL(x, y_l; ref || pi) - sg(beta D_SeqKL(x, y_w; ref || pi))."""
    config = config or TDPOConfig()
    margin, chosen_kl, rejected_kl, chosen_margin, rejected_margin = _tdpo_terms(batch, "tdpo2")
    loss = -F.logsigmoid(config.beta * (margin - config.alpha * (rejected_kl - chosen_kl.detach())))
    return loss, _reward_metrics(config.beta * chosen_margin, config.beta * rejected_margin)


def dmpo_turn_weights(turn_index: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per token, phi(j, N) of its turn j (0-based) among the N assistant turns of its sequence:
    phi = gamma^j (1 - gamma^(N - j)) / (1 - gamma^N), or (N - j) / N when gamma = 1.

    N is one more than the largest turn index under the mask; masked tokens weigh 0.
    """
    labelled = mask > 0
    num_turns = turn_index.masked_fill(~labelled, -1).amax(dim=-1, keepdim=True) + 1
    turns = num_turns.clamp_min(1).to(torch.float64)
    j = turn_index.clamp_min(0).to(torch.float64)
    if gamma == 1.0:
        weights = (turns - j) / turns
    else:
        weights = gamma**j * (1 - gamma ** (turns - j)) / (1 - gamma**turns)
    return weights.to(mask.dtype if mask.is_floating_point() else torch.float32) * labelled


@register_preference_loss("dmpo")
def dmpo(batch: PreferenceBatch, config: DMPOConfig | None = None) -> tuple[torch.Tensor, Metrics]:
    """DMPO (Shi et al., 2024), as swt-user/DMPO computes it: every labelled token of assistant
    turn j is weighed by phi(j, N) (:func:`dmpo_turn_weights`) in both the policy and the
    reference sums, each response with its own N; then
    L = -log sigmoid(beta * ((pi_w - pi_l) - (ref_w - ref_l))) on those weighted sums."""
    config = config or DMPOConfig()
    ref_chosen = _required(batch.ref_chosen, "ref_chosen", "dmpo")
    ref_rejected = _required(batch.ref_rejected, "ref_rejected", "dmpo")
    chosen_turns = _required(batch.chosen_turn_index, "chosen_turn_index", "dmpo")
    rejected_turns = _required(batch.rejected_turn_index, "rejected_turn_index", "dmpo")
    chosen_weights = dmpo_turn_weights(chosen_turns, batch.chosen_mask, config.gamma)
    rejected_weights = dmpo_turn_weights(rejected_turns, batch.rejected_mask, config.gamma)
    chosen_logratio = sequence_logps(
        batch.policy_chosen - ref_chosen, batch.chosen_mask, chosen_weights
    )
    rejected_logratio = sequence_logps(
        batch.policy_rejected - ref_rejected, batch.rejected_mask, rejected_weights
    )
    loss = -F.logsigmoid(config.beta * (chosen_logratio - rejected_logratio))
    return loss, _reward_metrics(config.beta * chosen_logratio, config.beta * rejected_logratio)
