"""Run configurations: YAML validated into typed models, with dotted command-line overrides.

:class:`RunConfig` is on-policy RL (``turngym train``), :class:`PreferenceRunConfig`
preference optimization (``turngym preference``: offline from sampled pairs, or online from a
judge's verdicts); both share the env, model, agent and warm-start blocks. A misspelled key,
a value of the wrong type or an unknown environment id fails before any work with a message
naming the field, the value given and what is allowed::

    config error at algo.learning_rate: Input should be a valid number (got 'fast')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from turngym.agents.backends.factory import BACKEND_KINDS, VLLM_OWNED_OPTIONS
from turngym.common.run_folder import check_resume_folder
from turngym.envs import check_env_id, check_env_kwargs, import_env_modules
from turngym.envs.registry import check_task_ranges, env_task_count
from turngym.rewards.scorers import Rubric

from .algorithms import (
    ESTIMATOR_BLOCKS,
    GSPO_AGGREGATION,
    KL_ESTIMATOR_NAMES,
    POLICY_LOSS_BLOCKS,
    PREFERENCE_LOSS_BLOCKS,
    AggregationMode,
    DMPOConfig,
    DPOConfig,
    DualClipPPOConfig,
    GAEConfig,
    GiGPOConfig,
    GRPOConfig,
    GSPOConfig,
    IPOConfig,
    KTOConfig,
    LabelSmoothingConfig,
    ORPOConfig,
    PPOClipConfig,
    ReinforcePPConfig,
    ReMaxConfig,
    RLOOConfig,
    SimPOConfig,
    TDPOConfig,
    WPOConfig,
    sequence_norm_constant,
)
from .deepspeed import EngineConfig


class ConfigError(ValueError):
    """A configuration mistake, reported before any work starts."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskRange(Strict):
    """Task ids ``start, start + 1, ..., stop - 1``."""

    start: int = Field(0, ge=0, description="first task id")
    stop: int = Field(100_000, gt=0, description="one past the last task id")


class EnvConfig(Strict):
    # imports comes first: pydantic validates fields in order, and id may be registered by them
    imports: list[str] = Field(
        default_factory=list,
        description="modules that register environments of your own (dotted names or .py "
        "paths), imported before id is looked up, and in every environment worker",
    )
    id: str = Field("turngym/Household-v0", description="registered Gymnasium id")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to gymnasium.make")
    max_episode_steps: int | None = Field(None, gt=0, description="override the id's step cap")
    train_tasks: TaskRange = Field(default_factory=TaskRange, description="tasks to train on")
    eval_tasks: TaskRange = Field(
        default_factory=lambda: TaskRange(start=1_000_000, stop=1_100_000),
        description="held-out tasks for evaluation",
    )

    @field_validator("imports")
    @classmethod
    def _import(cls, imports: list[str]) -> list[str]:
        try:
            import_env_modules(imports)
        except ImportError as error:
            raise ValueError(str(error)) from None
        return imports

    @field_validator("id")
    @classmethod
    def _registered(cls, env_id: str) -> str:
        return check_env_id(env_id)

    @field_validator("kwargs")
    @classmethod
    def _known_kwargs(cls, kwargs: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "id" in info.data:  # else the id itself was wrong, and said so
            check_env_kwargs(info.data["id"], kwargs)
        return kwargs

    def make_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.kwargs)
        if self.max_episode_steps is not None:
            kwargs["max_episode_steps"] = self.max_episode_steps
        return kwargs

    def check_tasks(self, eval_episodes: int) -> None:
        """Make one environment (a missing data folder or a failing start shows here, before
        any work) and check the task ranges against its ``num_tasks``. An unset
        ``train_tasks`` becomes all of the environment's tasks."""
        count = env_task_count(self.id, self.make_kwargs())
        if count is not None and "train_tasks" not in self.model_fields_set:
            self.train_tasks = TaskRange(start=0, stop=count)
        eval_ids = self.eval_task_ids(eval_episodes)
        check_task_ranges(self.id, count, {
            "env.train_tasks": range(self.train_tasks.start, self.train_tasks.stop),
            "env.eval_tasks (the ids evaluated)": range(eval_ids[0], eval_ids[-1] + 1),
        })  # fmt: skip

    def make_pool(self, settings: EnvPoolConfig, expert: bool = False) -> Any:
        """The :class:`~turngym.agents.env_pool.EnvPool` of this environment (its workers
        import ``imports`` too); ``expert``: one whose answers carry the expert's next move."""
        from turngym.agents.env_pool import EnvPool

        return EnvPool(self.id, self.make_kwargs(), settings.num_slots, settings.num_workers,
                       settings.step_timeout, imports=self.imports, expert=expert)  # fmt: skip

    def eval_task_ids(self, episodes: int) -> list[int]:
        """The first ``episodes`` held-out task ids."""
        start, stop = self.eval_tasks.start, self.eval_tasks.stop
        return list(range(start, min(stop, start + episodes)))


class TinyModelConfig(Strict):
    hidden_size: int = Field(128, gt=0, description="width of the tiny Qwen2")
    num_layers: int = Field(2, gt=0, description="transformer blocks")
    num_heads: int = Field(4, gt=0, description="attention heads")
    intermediate_size: int = Field(256, gt=0, description="MLP width")
    vocab_size: int = Field(512, ge=300, description="byte-level BPE vocabulary size")


class ModelConfig(Strict):
    name_or_path: str = Field("tiny", description="'tiny' (built offline) or a HF name or path")
    backend: str = Field(
        "transformers", description="inference engine for rollouts: " + ", ".join(BACKEND_KINDS)
    )
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    dtype: Literal["float32", "bfloat16"] = "float32"
    vllm: dict[str, Any] = Field(
        default_factory=dict,
        description="backend: vllm only: further vllm.LLM keywords (gpu_memory_utilization, "
        "max_model_len, tensor_parallel_size, enforce_eager, ...), passed through",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, kind: str) -> str:
        if kind not in BACKEND_KINDS:
            raise ValueError(f"unknown inference backend; available: {list(BACKEND_KINDS)}")
        return kind

    @model_validator(mode="after")
    def _vllm_options(self) -> ModelConfig:
        if self.vllm and self.backend != "vllm":
            raise ValueError("model.vllm is read only with backend: vllm; set model.backend: "
                             "vllm or remove the section")  # fmt: skip
        owned = sorted(set(self.vllm) & set(VLLM_OWNED_OPTIONS))
        if owned:
            raise ValueError(f"model.vllm sets {', '.join(owned)}, which turngym sets "
                             "(from model.name_or_path, model.dtype, train.seed); remove "
                             "it")  # fmt: skip
        return self


class AgentSettings(Strict):
    mode: Literal["generate", "choose"] = Field("generate", description="action mode")
    history: int = Field(0, ge=0, description="previous turns shown in the prompt")
    list_admissible: bool | None = Field(None, description="list admissible actions in prompt")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling (generate mode)")
    max_new_tokens: int = Field(64, gt=0, description="response budget per turn")


class EnvPoolConfig(Strict):
    """Where episodes run: every rollout of a run (training, warm start, pairs, evaluation)
    goes through one pool built from this block (:meth:`EnvConfig.make_pool`)."""

    num_workers: int = Field(0, ge=0, description="environment worker processes (0: in-process)")
    num_slots: int = Field(64, gt=0, description="episodes running at once")
    step_timeout: float = Field(300.0, gt=0, description="seconds before a worker is restarted")


class RolloutConfig(EnvPoolConfig):
    tasks_per_iteration: int = Field(8, gt=0, description="N: distinct tasks per iteration")
    group_size: int = Field(8, gt=0, description="G: rollouts per task, same initial state")
    dynamic_sampling: bool = Field(
        False, description="DAPO: drop groups whose returns are all equal, refill with new tasks"
    )
    max_sampling_rounds: int = Field(3, gt=0, description="DAPO: rollout rounds to fill N groups")


#: keys that moved into the reward block, and where to
MOVED_TO_REWARD = {
    "kl_in_reward": "a KL penalty in the reward is the scorer {name: kl, weight: BETA} in "
    "reward.scorers (algo.kl_coef stays the loss term's beta; set it to 0 for reward-only KL)",
    "overlong_buffer": "DAPO's overlong shaping is the scorer {name: overlong, weight: PENALTY, "
    "options: {buffer: L_CACHE}} in reward.scorers",
    "overlong_penalty": "DAPO's overlong shaping is the scorer {name: overlong, weight: PENALTY, "
    "options: {buffer: L_CACHE}} in reward.scorers",
}


class AlgoConfig(Strict):
    advantage: str = Field("grpo", description="registered advantage estimator")
    grpo: GRPOConfig = Field(default_factory=GRPOConfig, description="also read by dr_grpo")
    rloo: RLOOConfig = Field(default_factory=RLOOConfig)
    reinforce_pp: ReinforcePPConfig = Field(default_factory=ReinforcePPConfig)
    remax: ReMaxConfig = Field(default_factory=ReMaxConfig)
    gigpo: GiGPOConfig = Field(default_factory=GiGPOConfig)
    gae: GAEConfig = Field(default_factory=GAEConfig, description="PPO with a learned critic")
    critic_learning_rate: float = Field(1e-3, gt=0, description="AdamW lr of the critic (gae)")
    policy_loss: str = Field("ppo_clip", description="registered policy loss")
    ppo_clip: PPOClipConfig = Field(default_factory=PPOClipConfig)
    ppo_dual_clip: DualClipPPOConfig = Field(default_factory=DualClipPPOConfig)
    gspo: GSPOConfig = Field(default_factory=GSPOConfig)
    kl_coef: float = Field(0.0, ge=0, description="beta of the KL to the reference policy")
    kl_estimator: str = Field(
        "k3", description="registered KL estimator: k1, abs, k2, k3 (clamped as verl's low_var_kl)"
    )
    entropy_coef: float = Field(0.0, ge=0, description="entropy bonus: loss -= coef * H")
    loss_aggregation: AggregationMode = Field(
        "token-mean",
        description="how unit losses reduce to one number per mini-batch (gspo: always "
        "seq-mean-token-mean, filled in when unset)",
    )
    loss_norm_constant: float | None = Field(
        None,
        gt=0,
        description="C of seq-mean-token-sum-norm, sum / C; unset: the most units a sample can "
        "have, agent.max_new_tokens in generate mode (verl's max response length), 1 in choose",
    )
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    epochs: int = Field(2, gt=0, description="passes over each iteration's samples")
    minibatch_size: int = Field(128, gt=0, description="step samples per optimizer step")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    step_weighting: Literal["uniform", "inverse_length"] = Field(
        "uniform", description="weight of each step sample: 1 or 1 / trajectory length"
    )

    @field_validator("advantage", "policy_loss", "kl_estimator")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        kind, table = {
            "advantage": ("estimator", ESTIMATOR_BLOCKS),
            "policy_loss": ("policy loss", POLICY_LOSS_BLOCKS),
            "kl_estimator": ("KL estimator", KL_ESTIMATOR_NAMES),
        }[info.field_name]
        if name not in table:
            raise ValueError(f"unknown {kind}; registered: {sorted(table)}")
        return name

    @model_validator(mode="before")
    @classmethod
    def _gspo_aggregates_its_own_way(cls, data: Any) -> Any:
        """GSPO is defined with seq-mean-token-mean (paper and verl): filled in when unset; a
        different setting (given, or already there when policy_loss is assigned) is refused
        rather than silently overridden, so every reader of the config sees what is used."""
        if not isinstance(data, dict) or data.get("policy_loss") != "gspo":
            return data
        given = data.get("loss_aggregation", GSPO_AGGREGATION)
        if given != GSPO_AGGREGATION:
            raise ValueError(
                f"loss_aggregation={given!r} with policy_loss='gspo': GSPO always aggregates "
                f"{GSPO_AGGREGATION} (its sequence ratio is one per sequence); remove "
                f"loss_aggregation or set it to {GSPO_AGGREGATION}"
            )
        return {**data, "loss_aggregation": GSPO_AGGREGATION}

    @field_validator("remax")
    @classmethod
    def _greedy_suffix(cls, remax: ReMaxConfig) -> ReMaxConfig:
        if not remax.greedy_episode_suffix:  # the trainer names its greedy rollouts with it
            raise ValueError(
                f"greedy_episode_suffix={remax.greedy_episode_suffix!r}: the trainer ends each "
                "greedy rollout's episode id with this suffix, so that ReMax finds it; give a "
                "non-empty string (default '/greedy')"
            )
        return remax

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        moved = sorted(set(data) & set(MOVED_TO_REWARD)) if isinstance(data, dict) else []
        if moved:
            raise ValueError(
                f"algo.{moved[0]} moved to the reward block: {MOVED_TO_REWARD[moved[0]]}"
            )
        return data

    def settings_of(self, name: str) -> BaseModel | None:
        """The options block named like a registered function (``algo.grpo`` for ``grpo``)."""
        return getattr(self, {**ESTIMATOR_BLOCKS, **POLICY_LOSS_BLOCKS}.get(name, name), None)


class WarmStartConfig(Strict):
    """Behaviour cloning on expert episodes before RL (the environment's expert)."""

    expert_tasks: int = Field(0, ge=0, description="expert episodes on train tasks (0: none)")
    epochs: int = Field(1, gt=0, description="passes over the demonstrated turns")
    batch_size: int = Field(64, gt=0, description="turns per optimizer step")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate")


class RunBasics(Strict):
    """What every run has: a seed, an output folder, a held-out evaluation size, threads."""

    eval_episodes: int = Field(100, gt=0, description="held-out episodes per evaluation")
    output_dir: str = Field("runs/default", description="checkpoints, metrics, TensorBoard")
    seed: int = Field(0, description="seed of everything")
    torch_threads: int | None = Field(None, gt=0, description="torch.set_num_threads")
    progress: bool = Field(True, description="show progress bars")
    overwrite: bool = Field(
        False, description="clear output_dir first if it holds a run (else a new run refuses)"
    )


class ScorerSpec(Strict):
    """One term of the reward rubric (:mod:`turngym.rewards.scorers`)."""

    name: str = Field(description="a registered scorer: env, format, overlong, kl, ...")
    weight: float = Field(1.0, description="w_k: the term added is w_k * the scorer's score")
    options: dict[str, Any] = Field(default_factory=dict, description="the scorer's options")


class RewardConfig(Strict):
    """The reward stage: r_total = sum_k w_k * s_k per turn, written beside the environment's
    reward (which the ``env`` scorer passes on)."""

    scorers: list[ScorerSpec] = Field(
        default_factory=lambda: [ScorerSpec(name="env")],
        description="the rubric's weighted scorers (default: the environment's reward alone)",
    )

    @field_validator("scorers")
    @classmethod
    def _buildable(cls, scorers: list[ScorerSpec]) -> list[ScorerSpec]:
        Rubric.from_specs(scorers)  # an unknown scorer or option, or a repeat, fails at start
        return scorers


class TrainConfig(RunBasics):
    iterations: int = Field(40, ge=0, description="rollout-and-update iterations")
    eval_every: int = Field(10, ge=0, description="evaluate every k iterations (0: start/end)")
    checkpoint_every: int = Field(10, ge=0, description="checkpoint every k iterations (0: end)")
    resume: bool | str = Field(False, description="true: latest checkpoint; or a folder")
    save_trajectories: bool = Field(
        False, description="write each iteration's scored trajectories to trajectories/*.parquet"
    )

    @field_validator("resume")
    @classmethod
    def _resumable(cls, resume: bool | str) -> bool | str:
        if isinstance(resume, str):
            check_resume_folder(resume)
        return resume


class RunConfig(Strict):
    env: EnvConfig = Field(default_factory=EnvConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    warm_start: WarmStartConfig = Field(default_factory=WarmStartConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig, description="training engine")
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _deepspeed_runs_the_policy_only(self) -> RunConfig:
        """The DeepSpeed engine trains the policy; the critic (gae) and the warm start have
        engines of their own on the same module, which ZeRO's partitions would not see."""
        if self.engine.kind != "deepspeed":
            return self
        if self.algo.advantage == "gae":
            raise ValueError("algo.advantage='gae' trains a critic beside the policy, which the "
                             "deepspeed engine does not; use engine.kind: torch")  # fmt: skip
        if self.warm_start.expert_tasks:
            raise ValueError("warm_start.expert_tasks with engine.kind: deepspeed: warm-start "
                             "in a torch run first and give its checkpoint as "
                             "model.name_or_path")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _explicit_norm_constant(self) -> RunConfig:
        """seq-mean-token-sum-norm divides by a constant: written into the config (and so into
        run_config.yaml) when it was left unset, from the agent's response budget."""
        algo = self.algo
        if algo.loss_aggregation == "seq-mean-token-sum-norm" and algo.loss_norm_constant is None:
            agent = self.agent
            algo.loss_norm_constant = sequence_norm_constant(agent.mode, agent.max_new_tokens)
        return self


# -- offline preference optimization (``turngym preference``) ---------------------------------
PairSource = Literal["expert_vs_sampled", "best_vs_worst", "step"]


class PairsConfig(Strict):
    """Preference pairs from the (warm-started) policy's own episodes on train tasks; see
    :mod:`turngym.algos.pairs`."""

    sources: list[PairSource] = Field(
        default_factory=lambda: ["expert_vs_sampled", "best_vs_worst"],
        min_length=1,
        description="expert_vs_sampled: the expert episode vs each sample it beats; "
        "best_vs_worst: per task, best vs worst sample; step: their first diverging step",
    )
    tasks: int = Field(128, gt=0, description="train tasks to sample episodes on")
    samples_per_task: int = Field(4, gt=0, description="G: sampled episodes per task")
    shape: Literal["step", "conversation"] = Field(
        "step", description="score each turn on its own prompt, or whole conversations"
    )

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_more(cls, sources: Any) -> Any:
        return [sources] if isinstance(sources, str) else sources  # pairs.sources=step

    @model_validator(mode="after")
    def _groups_to_compare(self) -> PairsConfig:
        grouped = sorted({"best_vs_worst", "step"} & set(self.sources))
        if grouped and self.samples_per_task < 2:
            needs = " and ".join(grouped)
            raise ValueError(f"{needs} pairs need two samples of a task: samples_per_task >= 2")
        return self


class ReferenceUpdateConfig(Strict):
    """TR-DPO (Gorbatovski et al., 2024): every tau optimizer steps,
    theta_ref <- alpha * theta + (1 - alpha) * theta_ref."""

    tau: int = Field(0, ge=0, description="tau, steps between updates (0: frozen reference)")
    alpha: float = Field(1.0, gt=0, le=1, description="alpha, the policy's weight (1: hard copy)")


class PreferenceAlgoConfig(Strict):
    loss: str = Field("dmpo", description="registered preference loss")
    dpo: DPOConfig = Field(default_factory=DPOConfig, description="also read by hinge")
    cdpo: LabelSmoothingConfig = Field(default_factory=LabelSmoothingConfig)
    robust_dpo: LabelSmoothingConfig = Field(default_factory=LabelSmoothingConfig)
    ipo: IPOConfig = Field(default_factory=IPOConfig)
    simpo: SimPOConfig = Field(default_factory=SimPOConfig)
    orpo: ORPOConfig = Field(default_factory=ORPOConfig)
    kto: KTOConfig = Field(default_factory=KTOConfig, description="also read by kto_no_kl")
    tdpo: TDPOConfig = Field(default_factory=TDPOConfig, description="read by tdpo1 and tdpo2")
    dmpo: DMPOConfig = Field(default_factory=DMPOConfig)
    reference_update: ReferenceUpdateConfig = Field(default_factory=ReferenceUpdateConfig)
    pair_weighting: Literal["none", "wpo"] = Field(
        "none",
        description="wpo: weigh each pair's loss by min(1, w(y_w) w(y_l)), w its length-"
        "normalised probability under the current policy (WPO, Zhou et al., 2024)",
    )
    wpo: WPOConfig = Field(default_factory=WPOConfig)
    epochs: int = Field(2, gt=0, description="passes over the pairs")
    batch_size: int = Field(16, gt=0, description="pairs per optimizer step")
    learning_rate: float = Field(3e-4, gt=0, description="AdamW learning rate")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        if name not in PREFERENCE_LOSS_BLOCKS:
            raise ValueError(
                f"unknown preference loss; registered: {sorted(PREFERENCE_LOSS_BLOCKS)}"
            )
        return name

    @model_validator(mode="after")
    def _pairwise_for_wpo(self) -> PreferenceAlgoConfig:
        if self.pair_weighting == "wpo" and self.loss in ("kto", "kto_no_kl"):
            raise ValueError(
                f"pair_weighting='wpo' weighs pairs, and loss={self.loss!r} reads them "
                "unpaired; use a pairwise loss or pair_weighting: none"
            )
        return self

    @property
    def wpo_alignment(self) -> str | None:
        """WPO's alignment when pairs are weighted, else None (no weighting)."""
        return self.wpo.alignment if self.pair_weighting == "wpo" else None

    def settings_of(self, name: str) -> BaseModel | None:
        """The options block of a registered loss (``algo.tdpo`` for ``tdpo1`` and ``tdpo2``)."""
        return getattr(self, PREFERENCE_LOSS_BLOCKS.get(name, name), None)


JudgeKind = Literal["rule", "llm", "chat", "scorers"]
#: the judge fields each kind reads (besides ``kind``)
JUDGE_FIELDS: dict[str, tuple[str, ...]] = {
    "rule": (),
    "scorers": ("scorers",),
    "llm": ("model", "tie_threshold"),
    "chat": ("model", "base_url", "api_key_env", "tie_threshold"),
}


class JudgeConfig(Strict):
    """The pairwise judge of online DPO (:mod:`turngym.rewards`)."""

    kind: JudgeKind = Field(
        "rule",
        description="rule: the environment's outcome (won, then return, then shorter); llm: a "
        "local model's answer log-odds in both orders; chat: an OpenAI-compatible endpoint; "
        "scorers: the higher total of reward scorers (a rule of your own, e.g. a constitution "
        "checked by regex_match)",
    )
    scorers: list[ScorerSpec] = Field(
        default_factory=list, description="scorers: the weighted scorers whose total decides"
    )
    model: str | None = Field(
        None,
        description="llm: 'policy' (a frozen copy of the policy as online training starts) or a "
        "Hugging Face name or path; chat: the model name the server expects",
    )
    base_url: str | None = Field(None, description="chat: the API root, e.g. http://host:8000/v1")
    api_key_env: str | None = Field(
        None, description="chat: environment variable holding the API key (unset: no key sent)"
    )
    tie_threshold: float = Field(
        0.0, ge=0, description="llm, chat: |margin| at or below which a pair is a tie (dropped)"
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> JudgeConfig:
        reads = JUDGE_FIELDS[self.kind]
        stray = sorted(self.model_fields_set - set(reads) - {"kind"})
        if stray:
            readers = sorted(k for k, fields in JUDGE_FIELDS.items() if set(stray) & set(fields))
            raise ValueError(f"kind {self.kind!r} does not read {', '.join(stray)} (only "
                             f"{' and '.join(readers)} judges do); remove it")  # fmt: skip
        needed = {
            "llm": {"model": "'policy' or a Hugging Face name or path"},
            "chat": {"base_url": "the API root", "model": "the name the server expects"},
            "scorers": {"scorers": "a list of reward scorers"},
        }.get(self.kind, {})
        missing = [f"{name} ({what})" for name, what in needed.items() if not getattr(self, name)]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {' and '.join(missing)}")
        if self.api_key_env and self.api_key_env not in os.environ:
            raise ValueError(f"api_key_env={self.api_key_env!r} names an environment variable "
                             "that is not set; export it or remove api_key_env")  # fmt: skip
        if self.kind == "scorers":
            needs = Rubric.from_specs(self.scorers).needs - {"max_new_tokens"}
            if needs:
                raise ValueError(f"a scorers judge reads finished episodes only; scorers need "
                                 f"{sorted(needs)} from the RL loop")  # fmt: skip
        return self


class OnlinePreferenceConfig(Strict):
    """Online DPO from AI feedback (OAIF, :mod:`turngym.algos.online_dpo`): read with
    ``mode: online``."""

    iterations: int = Field(50, gt=0, description="rollout, judge and update iterations")
    tasks_per_iteration: int = Field(
        64, gt=0, description="N: train tasks per iteration, 2 rollouts each, at most one pair"
    )
    updates_per_iteration: int = Field(
        1, gt=0, description="gradient steps on each iteration's pairs (1 in OAIF)"
    )
    eval_every: int = Field(
        0, ge=0, description="evaluate every k iterations into metrics.jsonl (0: before/after)"
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig)


class SPPORunConfig(Strict):
    """SPPO (:mod:`turngym.algos.sppo`): read with ``mode: sppo``."""

    iterations: int = Field(20, gt=0, description="t: sample, judge and regress iterations")
    tasks_per_iteration: int = Field(16, gt=0, description="N: train tasks per iteration")
    samples_per_task: int = Field(
        4, ge=2, description="K: trajectories per task, every pair of them judged"
    )
    eta: float = Field(
        1.0, gt=0, description="eta: log pi_t+1 / pi_t is regressed on eta (P_hat - 1/2)"
    )
    epochs: int = Field(1, gt=0, description="passes over each iteration's trajectories")
    batch_size: int = Field(32, gt=0, description="trajectories per optimizer step")
    preference: Literal["hard", "soft"] = Field(
        "hard", description="P per verdict: 1, 0 or 1/2 (hard) or sigmoid(margin) (soft)"
    )
    eval_every: int = Field(0, ge=0, description="evaluate every k iterations (0: before/after)")
    judge: JudgeConfig = Field(default_factory=JudgeConfig)


class PreferenceTrainConfig(RunBasics):
    output_dir: str = Field("runs/preference", description="the checkpoint, with result.json")


#: fields read in one mode only, by section: a config that sets them in the other mode fails
OFFLINE_ONLY_FIELDS = {
    "pairs": ("sources", "tasks", "samples_per_task"),
    "algo": ("epochs", "batch_size", "reference_update"),
}


#: the algo fields mode: sppo reads (the optimizer's)
SPPO_ALGO_FIELDS = ("learning_rate", "max_grad_norm")


class PreferenceRunConfig(Strict):
    mode: Literal["offline", "online", "sppo"] = Field(
        "offline",
        description="offline: train on pairs of one sample of episodes (pairs, algo.epochs); "
        "online: OAIF, fresh judged pairs every iteration (online); sppo: self-play preference "
        "optimization, K judged samples per task every iteration (sppo)",
    )
    env: EnvConfig = Field(default_factory=EnvConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    rollout: EnvPoolConfig = Field(default_factory=EnvPoolConfig)
    warm_start: WarmStartConfig = Field(default_factory=WarmStartConfig)
    pairs: PairsConfig = Field(
        default_factory=PairsConfig, description="online mode reads only pairs.shape"
    )
    online: OnlinePreferenceConfig = Field(default_factory=OnlinePreferenceConfig)
    sppo: SPPORunConfig = Field(default_factory=SPPORunConfig)
    algo: PreferenceAlgoConfig = Field(default_factory=PreferenceAlgoConfig)
    train: PreferenceTrainConfig = Field(default_factory=PreferenceTrainConfig)

    @model_validator(mode="after")
    def _fields_of_mode(self) -> PreferenceRunConfig:
        for block in ("online", "sppo"):
            if self.mode != block and block in self.model_fields_set:
                raise ValueError(f"the {block} block is read only with mode: {block}; set mode: "
                                 f"{block} or remove the block")  # fmt: skip
        if self.mode == "sppo":
            stray = [f"algo.{name}" for name in
                     sorted(self.algo.model_fields_set - set(SPPO_ALGO_FIELDS))]  # fmt: skip
            stray += [f"pairs.{name}" for name in OFFLINE_ONLY_FIELDS["pairs"]
                      if name in self.pairs.model_fields_set]  # fmt: skip
            if stray:
                raise ValueError(f"mode: sppo reads only algo.{', algo.'.join(SPPO_ALGO_FIELDS)} "
                                 f"and pairs.shape (its loss is SPPO's own); remove "
                                 f"{', '.join(stray)}")  # fmt: skip
        if self.mode == "online":
            stray = [
                f"{section}.{name}"
                for section, names in OFFLINE_ONLY_FIELDS.items()
                for name in names
                if name in getattr(self, section).model_fields_set
            ]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} read only in "
                    "offline mode (mode: online draws online.tasks_per_iteration fresh tasks "
                    "every iteration and steps online.updates_per_iteration times on their "
                    "pairs); remove it, or set mode: offline"
                )
        return self

    @model_validator(mode="after")
    def _enough_train_tasks(self) -> PreferenceRunConfig:
        per_mode = {"offline": "pairs.tasks", "online": "online.tasks_per_iteration",
                    "sppo": "sppo.tasks_per_iteration"}[self.mode]  # fmt: skip
        sampled = {"offline": self.pairs.tasks, "online": self.online.tasks_per_iteration,
                   "sppo": self.sppo.tasks_per_iteration}[self.mode]  # fmt: skip
        needed = self.warm_start.expert_tasks + sampled
        available = self.env.train_tasks.stop - self.env.train_tasks.start
        if needed > available:
            raise ValueError(f"warm_start.expert_tasks + {per_mode} = {needed} distinct tasks, "
                             f"but env.train_tasks holds {available}")  # fmt: skip
        return self


def apply_override(tree: dict[str, Any], override: str) -> None:
    """Set ``a.b.c=value`` in a nested dict; the value is parsed as YAML (``1e-3``, ``true``)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r} is not of the form dotted.key=value")
    parts = key.strip().split(".")
    node: Any = tree
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            child = node[_list_index(node, part, override, where)]
        else:
            child = node.setdefault(part, {})
        if not isinstance(child, dict | list):
            raise ConfigError(f"override {override!r}: {where} is a value, not a section")
        node = child
    value = yaml.safe_load(raw) if raw.strip() else ""
    if isinstance(node, list):
        node[_list_index(node, parts[-1], override, key.strip())] = value
    else:
        node[parts[-1]] = value


def _list_index(items: list, part: str, override: str, where: str) -> int:
    """An item of a list section by its position or by its ``name`` (a pipeline's stages)."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if part in names:
        return names.index(part)
    if part.isdigit() and int(part) < len(items):
        return int(part)
    raise ConfigError(f"override {override!r}: {where} names no item of the list; give an index "
                      f"below {len(items)} or one of the names {names}")  # fmt: skip


def _allowed_fields(location: tuple, model: Any) -> list[str]:
    for part in location[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


class SectionError(Exception):
    """A config mistake found inside a section that is validated on its own (a pipeline's
    stage): its message is ready, and it passes through pydantic (not a ``ValueError``)."""


def describe_error(error: ValidationError, schema: type[BaseModel], prefix: str = "") -> str:
    """One ``config error at FIELD: ...`` line per mistake; ``prefix`` names the section the
    validated tree sits in (``stages[1] (rl).config.``)."""
    lines = []
    for item in error.errors():
        location = tuple(item["loc"])
        where = (prefix + ".".join(str(part) for part in location)).rstrip(".")
        where = where or "(top level)"
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_fields(location, schema))
            lines.append(f"config error at {where}: unknown key; allowed here: {allowed}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            given = item.get("input")  # a whole section (a cross-field check) is not repeated
            got = "" if isinstance(given, dict) else f" (got {given!r})"
            lines.append(f"config error at {where}: {message}{got}")
    return "\n".join(lines)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] = (),
    schema: type[BaseModel] = RunConfig,
) -> Any:
    """Read a YAML file (or start from defaults), apply overrides, validate into ``schema``
    (:class:`RunConfig`, :class:`PreferenceRunConfig` or
    :class:`~turngym.config.pipeline.PipelineConfig`)."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"config file {path}{where} is not valid YAML: {problem}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
    for override in overrides:
        apply_override(tree, override)
    try:
        return schema.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(describe_error(error, schema)) from None
    except SectionError as error:
        raise ConfigError(str(error)) from None
