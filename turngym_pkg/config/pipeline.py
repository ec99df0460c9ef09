"""Pipeline configs (``turngym pipeline``): named stages run in order, each starting from the
checkpoint the previous one wrote, all sharing one environment, model, agent and evaluation.

Each stage is a mapping with a ``name`` and a ``kind``; the kind picks its schema from
:data:`STAGE_CONFIGS`, which stage kinds join with :func:`register_stage_config` (the runner of
a kind registers in :mod:`turngym.algos.pipeline`). Built in:

- ``sft``: behaviour cloning on the environment's expert demonstrations;
- ``rl``: the on-policy trainer, ``config`` a ``turngym train`` config (:class:`RunConfig`);
- ``preference``: ``config`` a ``turngym preference`` config (offline, online or SPPO);
- ``rejection_sampling``: sample from the current policy, keep the episodes that pass a filter
  (won, or a scorer's total over a threshold), then behaviour cloning on them.

The ``env``, ``model``, ``agent`` and ``rollout`` (where episodes run) blocks are the
pipeline's, shared by every stage; ``run`` holds the folder, seed and evaluation size. A stage's
``config`` may not set them again (its ``rollout`` block adds only the trainer's sampling
knobs). A mistake anywhere, inside a stage included, fails at start naming the field::

    config error at stages[1] (rl).config.algo.lerning_rate: unknown key; allowed here: ...
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from .reward_model import RewardModelPairsConfig, RewardModelTraining
from .run import (
    AgentSettings,
    EnvConfig,
    EnvPoolConfig,
    ModelConfig,
    PreferenceRunConfig,
    RunBasics,
    RunConfig,
    ScorerSpec,
    SectionError,
    Strict,
    describe_error,
)


class StageConfig(Strict):
    """What every stage has: a name (its folder and its row in the report) and a kind."""

    name: str = Field(description="the stage's name: letters, digits, _ and -")
    kind: str = Field(description="a registered stage kind (STAGE_CONFIGS)")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError("use letters, digits, _ and - only (it names the stage's folder)")
        return name

    def check_with(self, pipeline: PipelineConfig, where: str) -> None:
        """Checks that need the pipeline's shared blocks (a nested run config); raise
        :class:`~turngym.config.run.SectionError` naming ``where`` + the field."""


#: stage kind -> its config schema
STAGE_CONFIGS: dict[str, type[StageConfig]] = {}


def register_stage_config(kind: str) -> Callable[[type[StageConfig]], type[StageConfig]]:
    """Register the config schema of the stage kind ``kind`` (its runner registers with
    :func:`turngym.algos.pipeline.register_stage`)."""

    def add(schema: type[StageConfig]) -> type[StageConfig]:
        if kind in STAGE_CONFIGS and STAGE_CONFIGS[kind] is not schema:
            raise ValueError(f"a stage kind named {kind!r} is already registered")
        STAGE_CONFIGS[kind] = schema
        return schema

    return add


class BehaviourCloning(Strict):
    """The optimizer of a behaviour-cloning pass (a fresh AdamW, gradients clipped at 1)."""

    epochs: int = Field(2, gt=0, description="passes over the demonstrated turns")
    batch_size: int = Field(64, gt=0, description="turns per optimizer step")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate")


@register_stage_config("sft")
class SFTStage(StageConfig):
    """Behaviour cloning on the environment's expert (``expert_action()`` / ``expert_plan()``)
    on ``expert_tasks`` train tasks."""

    kind: Literal["sft"] = "sft"
    expert_tasks: int = Field(100, gt=0, description="expert episodes on train tasks")
    training: BehaviourCloning = Field(default_factory=BehaviourCloning)


class KeepFilter(Strict):
    """Which sampled episodes join the SFT set."""

    won: bool = Field(True, description="keep only won episodes")
    scorer: ScorerSpec | None = Field(
        None, description="a reward scorer; an episode's score is the sum of its weighted terms"
    )
    min_score: float | None = Field(None, description="keep episodes scoring at least this")
    max_per_task: int = Field(1, gt=0, description="keep at most this many per task (best first)")

    @model_validator(mode="after")
    def _scorer_and_threshold(self) -> KeepFilter:
        if (self.scorer is None) != (self.min_score is None):
            raise ValueError("scorer and min_score go together: give both or neither")
        if self.scorer is not None:
            from turngym.rewards.scorers import Rubric

            # an unknown scorer or option fails at start; so does one that needs the RL loop
            needs = Rubric.from_specs([self.scorer]).needs - {"max_new_tokens"}
            if needs:
                raise ValueError(
                    f"scorer {self.scorer.name!r} needs {sorted(needs)} from the RL loop; a "
                    "rejection filter scores finished episodes only"
                )
        return self


@register_stage_config("rejection_sampling")
class RejectionSamplingStage(StageConfig):
    """Sample ``samples_per_task`` episodes on each of ``tasks`` train tasks from the current
    policy, keep those that pass ``keep``, and behaviour-clone on them (``training``)."""

    kind: Literal["rejection_sampling"] = "rejection_sampling"
    tasks: int = Field(200, gt=0, description="train tasks to sample on")
    samples_per_task: int = Field(4, gt=0, description="episodes per task")
    temperature: float | None = Field(
        None, ge=0, description="sampling temperature (unset: the agent's)"
    )
    keep: KeepFilter = Field(default_factory=KeepFilter)
    training: BehaviourCloning = Field(default_factory=BehaviourCloning)


@register_stage_config("reward_model")
class RewardModelStage(StageConfig):
    """A Bradley-Terry reward model (``turngym reward-model``) on ``pairs``: a JSONL of
    comparisons, or the current policy's episodes judged two by two. Its body starts from
    ``base`` (``policy``: the checkpoint the stage starts from, as InstructGPT's reward model
    starts from the SFT model). The policy passes on unchanged; the reward model's folder is the
    artifact ``reward_model`` (``${this_stage.reward_model}`` in a later stage's config)."""

    kind: Literal["reward_model"] = "reward_model"
    pairs: RewardModelPairsConfig
    base: str = Field(
        "policy", description="'policy' (the stage's starting checkpoint), or a name or path"
    )
    temperature: float | None = Field(
        None, ge=0, description="rollouts: the sampling temperature (unset: the agent's)"
    )
    training: RewardModelTraining = Field(default_factory=RewardModelTraining)


class Principle(Strict):
    """One principle of a constitution: what the critic is asked to find, and to fix."""

    critique: str = Field(description="the critique request, e.g. 'Point out anything rude.'")
    revision: str = Field(description="the revision request, e.g. 'Rewrite it politely.'")


@register_stage_config("critique_revise")
class CritiqueReviseStage(StageConfig):
    """Constitutional AI's supervised stage (Bai et al., 2022): the current policy answers
    ``tasks`` train tasks; for each of its replies the ``critic`` (the policy itself, or another
    model) critiques it against a principle drawn from ``constitution`` and rewrites it,
    ``rounds`` times; the policy is fine-tuned (token cross-entropy, whatever the agent's mode)
    on the final revisions given the prompts it saw."""

    kind: Literal["critique_revise"] = "critique_revise"
    constitution: list[Principle] = Field(min_length=1, description="the principles")
    critic: str = Field(
        "policy", description="'policy' (the stage's starting checkpoint) or a name or path"
    )
    tasks: int = Field(64, gt=0, description="train tasks the policy answers (one episode each)")
    rounds: int = Field(1, gt=0, description="critique-and-revise rounds per reply")
    max_new_tokens: int = Field(96, gt=0, description="tokens per critique and per revision")
    temperature: float = Field(0.0, ge=0, description="the critic's sampling (0: greedy)")
    training: BehaviourCloning = Field(default_factory=BehaviourCloning)


#: keys of a nested run config that the pipeline sets (shared blocks, and train.* it owns)
SHARED_BLOCKS = ("env", "model", "agent")
PIPELINE_TRAIN_KEYS = ("output_dir", "seed", "resume", "overwrite", "torch_threads", "progress")


class NestedRunStage(StageConfig):
    """A stage whose ``config`` is a whole run config of another command, minus what the
    pipeline shares (:data:`SHARED_BLOCKS`) and owns (:data:`PIPELINE_TRAIN_KEYS`)."""

    run_schema: ClassVar[type[BaseModel]]
    config: dict[str, Any] = Field(default_factory=dict, description="the stage's run config")

    def run_config(
        self,
        pipeline: PipelineConfig,
        policy: str,
        output_dir: str,
        seed: int,
        artifacts: dict[str, dict[str, str]] | None = None,
    ) -> Any:
        """The stage's run config: its own keys plus the pipeline's shared blocks, starting
        from the checkpoint ``policy`` and writing to ``output_dir``; each artifact reference
        replaced by the path that ``artifacts`` (stage name -> its artifacts) holds, or, without
        ``artifacts`` (the check at start), left out (see :func:`resolve_artifacts`)."""
        tree = resolve_artifacts(copy.deepcopy(self.config), artifacts)
        tree["env"] = pipeline.env.model_dump()
        tree["model"] = {**pipeline.model.model_dump(), "name_or_path": policy}
        tree["agent"] = pipeline.agent.model_dump()
        tree["rollout"] = {**pipeline.rollout.model_dump(), **tree.get("rollout", {})}
        run = pipeline.run
        tree["train"] = {**tree.get("train", {}), "output_dir": output_dir, "seed": seed,
                         "torch_threads": run.torch_threads, "progress": run.progress,
                         "overwrite": True}  # fmt: skip
        return self.run_schema.model_validate(tree)

    def check_with(self, pipeline: PipelineConfig, where: str) -> None:
        shared = [k for k in SHARED_BLOCKS if k in self.config]
        owned = [k for k in PIPELINE_TRAIN_KEYS if k in (self.config.get("train") or {})]
        if shared:
            raise SectionError(
                f"config error at {where}config.{shared[0]}: the pipeline's {shared[0]} block "
                "is shared by every stage; set it there"
            )
        if owned:
            raise SectionError(
                f"config error at {where}config.train.{owned[0]}: set by the pipeline "
                f"(run.{'output_dir' if owned[0] == 'output_dir' else owned[0]}; each stage "
                "writes to run.output_dir/stages/NN_name); remove it"
            )
        earlier = {stage.name for stage in pipeline.stages[: pipeline.stages.index(self)]}
        for name, key in artifact_references(self.config):
            if name not in earlier:
                raise SectionError(
                    f"config error at {where}config: ${{{name}.{key}}} names no stage before "
                    f"this one (earlier: {sorted(earlier)})"
                )
        try:
            self.run_config(pipeline, "tiny", "stage", pipeline.run.seed)
        except ValidationError as error:
            raise SectionError(describe_error(error, self.run_schema, f"{where}config.")) from None


#: ``${stage_name.artifact}``: the path of an artifact an earlier stage produced
ARTIFACT_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}")


def artifact_references(tree: Any) -> list[tuple[str, str]]:
    """Every (stage, artifact) that a nested config refers to with ``${stage.artifact}``."""
    if isinstance(tree, dict):
        return [ref for value in tree.values() for ref in artifact_references(value)]
    if isinstance(tree, list):
        return [ref for value in tree for ref in artifact_references(value)]
    match = ARTIFACT_REFERENCE.fullmatch(tree) if isinstance(tree, str) else None
    return [match.groups()] if match else []


def resolve_artifacts(tree: Any, artifacts: dict[str, dict[str, str]] | None) -> Any:
    """``tree`` with each ``${stage.artifact}`` string replaced by that artifact's path.

    Without ``artifacts`` (checking a config before any stage ran) a list entry that holds a
    reference (a scorer reading a reward model, say) is left out, so the rest of the config is
    still checked at start; the entry itself is checked when its stage starts.
    """
    if isinstance(tree, dict):
        return {key: resolve_artifacts(value, artifacts) for key, value in tree.items()}
    if isinstance(tree, list):
        return [resolve_artifacts(value, artifacts) for value in tree
                if artifacts is not None or not artifact_references(value)]  # fmt: skip
    if isinstance(tree, str) and artifact_references(tree):
        if artifacts is None:
            return tree
        name, key = artifact_references(tree)[0]
        if key not in artifacts.get(name, {}):
            raise ValueError(f"${{{name}.{key}}}: stage {name!r} produced no artifact {key!r} "
                             f"(it has {sorted(artifacts.get(name, {}))})")  # fmt: skip
        return artifacts[name][key]
    return tree


@register_stage_config("rl")
class RLStage(NestedRunStage):
    """On-policy RL (``turngym train``'s :class:`RunConfig`: algo, reward, rollout sampling,
    warm start, train.iterations, ...)."""

    run_schema: ClassVar[type[BaseModel]] = RunConfig
    kind: Literal["rl"] = "rl"


@register_stage_config("preference")
class PreferenceStage(NestedRunStage):
    """Preference optimization (``turngym preference``'s :class:`PreferenceRunConfig`:
    ``mode`` offline, online or sppo)."""

    run_schema: ClassVar[type[BaseModel]] = PreferenceRunConfig
    kind: Literal["preference"] = "preference"


class PipelineRunSettings(RunBasics):
    """The pipeline's folder, seed, held-out evaluation and threads (every stage's too)."""

    output_dir: str = Field("runs/pipeline", description="stages/, the report, the state")
    eval_episodes: int = Field(
        100, gt=0, description="held-out episodes (the first of env.eval_tasks) per evaluation"
    )
    resume: bool = Field(
        False, description="continue a stopped pipeline: finished stages are not rerun"
    )
    eval_scorers: list[ScorerSpec] = Field(
        default_factory=list,
        description="reward scorers whose mean per episode every evaluation reports beside "
        "success (a rule the environment's reward does not state, say)",
    )

    @field_validator("eval_scorers")
    @classmethod
    def _scorers_of_finished_episodes(cls, scorers: list[ScorerSpec]) -> list[ScorerSpec]:
        from turngym.rewards.scorers import Rubric

        needs = Rubric.from_specs(scorers).needs - {"max_new_tokens"}
        if needs:
            raise ValueError(f"evaluation scores finished episodes; scorers need {sorted(needs)} "
                             "from the RL loop")  # fmt: skip
        return scorers


class PipelineConfig(Strict):
    """A pipeline: shared blocks, the run settings and the stages (see the module docstring)."""

    env: EnvConfig = Field(default_factory=EnvConfig)
    model: ModelConfig = Field(default_factory=ModelConfig, description="the first policy")
    agent: AgentSettings = Field(default_factory=AgentSettings)
    rollout: EnvPoolConfig = Field(default_factory=EnvPoolConfig)
    run: PipelineRunSettings = Field(default_factory=PipelineRunSettings)
    stages: list[SerializeAsAny[StageConfig]] = Field(min_length=1)

    @field_validator("stages", mode="before")
    @classmethod
    def _by_kind(cls, stages: Any) -> Any:
        if not isinstance(stages, list):
            return stages  # pydantic says it is not a list
        return [parse_stage(raw, index) for index, raw in enumerate(stages)]

    @model_validator(mode="after")
    def _stages_with_pipeline(self) -> PipelineConfig:
        if self.run.resume and self.run.overwrite:
            raise ValueError("run.resume and run.overwrite ask for opposite things; set one")
        names = [stage.name for stage in self.stages]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"stage names {repeated} appear more than once; names are unique")
        for index, stage in enumerate(self.stages):
            stage.check_with(self, stage_location(index, stage.name))
        return self


def stage_location(index: int, name: Any) -> str:
    return f"stages[{index}] ({name})." if name else f"stages[{index}]."


def parse_stage(raw: Any, index: int) -> StageConfig:
    """One stage mapping validated by its kind's schema; mistakes raise
    :class:`~turngym.config.run.SectionError` naming ``stages[i] (name).field``."""
    if isinstance(raw, StageConfig):
        return raw
    if not isinstance(raw, dict):
        raise SectionError(f"config error at stages[{index}]: a stage is a mapping with name, "
                           f"kind and its options (got {raw!r})")  # fmt: skip
    where = stage_location(index, raw.get("name"))
    kind = raw.get("kind")
    if kind not in STAGE_CONFIGS:
        raise SectionError(f"config error at {where}kind: unknown stage kind {kind!r}; "
                           f"registered: {sorted(STAGE_CONFIGS)}")  # fmt: skip
    schema = STAGE_CONFIGS[kind]
    try:
        return schema.model_validate(raw)
    except ValidationError as error:
        raise SectionError(describe_error(error, schema, where)) from None
