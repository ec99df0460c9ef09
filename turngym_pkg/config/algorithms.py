"""The options of every registered algorithm: the blocks of the config that configure an advantage
estimator, a policy loss or a preference loss, in the papers' symbols.

They live here, apart from the functions they configure (``turngym.algos``), so that a run
config validates without importing torch: a typo fails in a fraction of a second. Each block's
docstring names the function it configures, whose docstring carries the equation.

The name tables say which config block each registered name reads (``dr_grpo`` reads
``algo.grpo``); a test checks that they list exactly the registered functions. To add an
algorithm, register its function in ``turngym.algos`` and declare its block here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GSPO_AGGREGATION = "seq-mean-token-mean"  # GSPO always reduces this way (paper and verl)

AggregationMode = Literal[
    "token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"
]


def sequence_norm_constant(action_mode: str, max_new_tokens: int) -> float:
    """Default C of seq-mean-token-sum-norm: the most loss units a sample can have.

    verl divides by the padded response length, which is the configured maximum response
    length: ``max_new_tokens`` in ``generate`` mode. In ``choose`` mode a sample is one unit
    (the choice), so C = 1 and the loss is the mini-batch's weighted sum of sample losses.
    """
    return float(max_new_tokens) if action_mode == "generate" else 1.0


# -- advantage estimators (turngym.algos.advantages) ---------------------------------------------
class GRPOConfig(BaseModel):
    """Options of GRPO's group-normalized advantage."""

    model_config = ConfigDict(extra="forbid")
    normalize_by_std: bool = Field(True, description="divide by the group's std (False: Dr. GRPO)")
    epsilon: float = Field(1e-6, ge=0, description="added to the std before dividing")
    cross_step_statistics: bool = Field(
        False,
        description="group mean/std over step samples: a trajectory of length T counts T times "
        "(verl-agent's compute_mean_std_cross_steps); False: one sample per trajectory",
    )


class RLOOConfig(BaseModel):
    """Options of the leave-one-out baseline."""

    model_config = ConfigDict(extra="forbid")
    singleton: Literal["raw", "zero"] = Field(
        "raw", description="advantage of a group of one: its raw return R_i (verl) or 0"
    )


class ReinforcePPConfig(BaseModel):
    """Options of REINFORCE++ (both variants)."""

    model_config = ConfigDict(extra="forbid")
    gamma: float = Field(
        1.0, ge=0, le=1, description="gamma, discount of turn rewards (REINFORCE++ only)"
    )
    whiten_over: Literal["tokens", "turns"] = Field(
        "tokens",
        description="batch statistics weigh each turn by its loss units, response tokens or "
        "the one choice (verl's valid tokens), or count each turn once",
    )
    epsilon: float = Field(1e-8, ge=0, description="added to the variance before the sqrt")


class ReMaxConfig(BaseModel):
    """Options of ReMax: what each turn's return is, and how the trainer marks each group's
    greedy rollout."""

    model_config = ConfigDict(extra="forbid")
    returns: Literal["reward_to_go", "episode"] = Field(
        "reward_to_go",
        description="G_t of turn t: the rewards from turn t on (verl's per-token returns) or "
        "the whole episode's return R_i for every turn",
    )
    greedy_episode_ids: list[str] = Field(
        default_factory=list, description="episode ids of the greedy (argmax) rollouts"
    )
    greedy_episode_suffix: str | None = Field(
        "/greedy", description="an episode id ending with this also marks a greedy rollout"
    )


class GiGPOConfig(BaseModel):
    """Options of GiGPO; the defaults are verl-agent's ALFWorld recipe."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["mean_norm", "mean_std_norm"] = Field(
        "mean_norm",
        description="F_norm: mean_norm subtracts the group mean; mean_std_norm also divides by "
        "the unbiased std + epsilon (both in the episode and the step part)",
    )
    gamma: float = Field(0.95, ge=0, le=1, description="gamma, discount of the step returns")
    step_advantage_weight: float = Field(
        1.0, description="omega in A = A^E + omega * A^S (verl-agent's step_advantage_w)"
    )
    epsilon: float = Field(1e-6, ge=0, description="added to the std before dividing")
    invalid_action_penalty: float = Field(
        0.1, ge=0, description="coefficient c of the penalty c * (not turn.valid)"
    )
    penalty_applies_to: Literal["episode", "step", "both"] = Field(
        "both",
        description="where c * invalid_t is subtracted: that step's episode score, its step "
        "return, or both (verl-agent: both)",
    )


class GAEConfig(BaseModel):
    """Options of generalized advantage estimation; see :func:`gae_estimate`."""

    model_config = ConfigDict(extra="forbid")
    gamma: float = Field(1.0, ge=0, le=1, description="gamma, discount of turn rewards")
    gae_lambda: float = Field(
        0.95, ge=0, le=1, description="lambda, the bias-variance trade-off of GAE"
    )
    discount_per: Literal["turn", "token"] = Field(
        "turn",
        description="one GAE step per turn (V(s_t) of each turn's prompt) or per loss unit, "
        "each response token with its own value, the reward on the turn's last token (verl's "
        "compute_gae_advantage_return: the way to reproduce single-turn verl runs)",
    )
    whiten_over: Literal["tokens", "turns"] = Field(
        "tokens",
        description="batch whitening statistics over loss units, a turn with n units counting "
        "n times (verl's masked_whiten over valid tokens), or over turns, each once",
    )
    epsilon: float = Field(1e-8, ge=0, description="added to the variance inside the sqrt")
    bootstrap_truncated: bool = Field(
        True,
        description="an episode cut by the step cap (trajectory.truncated, no error) ends on "
        "V(s_T), the critic's value of its final observation; False: on 0, as if terminal",
    )


# -- policy losses (turngym.algos.losses) --------------------------------------------------------
class PPOClipConfig(BaseModel):
    """Options of the clipped surrogate."""

    model_config = ConfigDict(extra="forbid")
    clip_eps_low: float = Field(0.2, gt=0, description="ratio lower bound is 1 - clip_eps_low")
    clip_eps_high: float = Field(0.2, gt=0, description="ratio upper bound is 1 + clip_eps_high")


class DualClipPPOConfig(PPOClipConfig):
    """Options of dual-clip PPO: the clipped surrogate plus a bound for negative advantages."""

    dual_clip_c: float = Field(
        3.0, gt=1, description="c, the loss of a unit with A < 0 is at most -c * A (verl: 3.0)"
    )


class GSPOConfig(BaseModel):
    """Options of GSPO; clip ranges are the paper's (much narrower than PPO's)."""

    model_config = ConfigDict(extra="forbid")
    clip_eps_low: float = Field(3e-4, gt=0, description="s_i lower bound is 1 - clip_eps_low")
    clip_eps_high: float = Field(4e-4, gt=0, description="s_i upper bound is 1 + clip_eps_high")


# -- preference losses (turngym.algos.preference) ------------------------------------------------
class DPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="beta, strength of the KL to the reference")


class LabelSmoothingConfig(DPOConfig):
    label_smoothing: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="epsilon, the assumed chance that a pair's label is "
        "flipped (TRL's label_smoothing; 0 gives DPO)",
    )


class IPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="tau (TRL's beta), the regularization strength")


class SimPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(2.0, gt=0, description="beta, scale of the average log-probability")
    gamma: float = Field(1.0, ge=0, description="gamma, the target reward margin")


class ORPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="lambda (TRL's beta), weight of the odds ratio")


class KTOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="beta, scale of the implied reward")
    desirable_weight: float = Field(1.0, gt=0, description="lambda_D, weight of desirable ones")
    undesirable_weight: float = Field(1.0, gt=0, description="lambda_U, weight of undesirable")


class TDPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="beta, strength of the KL to the reference")
    alpha: float = Field(0.5, ge=0, description="alpha, weight of the KL term in TDPO2")


class DMPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="beta, strength of the KL to the reference")
    gamma: float = Field(0.7, gt=0, le=1, description="gamma, discount over assistant turns")


class WPOConfig(BaseModel):
    """Options of WPO's pair weighting (:mod:`turngym.algos.wpo`), read with
    ``algo.pair_weighting: wpo``."""

    model_config = ConfigDict(extra="forbid")
    alignment: Literal["sampled", "greedy", "none"] = Field(
        "sampled",
        description="A_t in w = exp(mean_t log pi(y_t) - log A_t): sampled, sum_v pi(v)^2 (the "
        "paper's default); greedy, max_v pi(v); none, 1 (plain length-normalised probability)",
    )


#: registered advantage estimator -> the ``algo`` block it reads
ESTIMATOR_BLOCKS = {
    "grpo": "grpo", "dr_grpo": "grpo", "rloo": "rloo", "reinforce_pp": "reinforce_pp",
    "reinforce_pp_baseline": "reinforce_pp", "remax": "remax", "gigpo": "gigpo", "gae": "gae",
}  # fmt: skip
#: registered policy loss -> the ``algo`` block it reads
POLICY_LOSS_BLOCKS = {"ppo_clip": "ppo_clip", "ppo_dual_clip": "ppo_dual_clip", "gspo": "gspo"}
#: registered KL estimators (no options)
KL_ESTIMATOR_NAMES = ("k1", "abs", "k2", "k3")
#: registered preference loss -> the ``algo`` block of ``turngym preference`` it reads
PREFERENCE_LOSS_BLOCKS = {
    "dpo": "dpo", "cdpo": "cdpo", "robust_dpo": "robust_dpo", "hinge": "dpo", "ipo": "ipo",
    "simpo": "simpo", "orpo": "orpo", "kto": "kto", "kto_no_kl": "kto", "tdpo1": "tdpo",
    "tdpo2": "tdpo", "dmpo": "dmpo",
}  # fmt: skip
