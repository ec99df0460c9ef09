"""The config of ``turngym reward-model CONFIG``: a Bradley-Terry reward model trained on
preference pairs (:mod:`turngym.algos.reward_model_run`), checked like every run config (a wrong
key or value fails at start, naming the field).

```yaml
model: {name_or_path: tiny}            # the causal LM whose body the reward model starts from
pairs:
  source: jsonl                        # jsonl | rollouts
  path: data/pairs.jsonl               # {"prompt": ..., "chosen": ..., "rejected": ...} a line
  eval_fraction: 0.1                   # held out for the pairwise accuracy
train: {epochs: 2, batch_size: 16, learning_rate: 1e-3, output_dir: runs/rm}
```

``source: rollouts`` samples ``samples_per_task`` episodes of each of ``tasks`` train tasks of
``env`` with the ``policy`` checkpoint and lets ``pairs.judge`` pick the better of each two
episodes of a task (ties dropped); the reward model then reads whole conversations.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .run import AgentSettings, EnvConfig, JudgeConfig, ModelConfig, Strict


class RewardModelPairsConfig(Strict):
    source: Literal["jsonl", "rollouts"] = Field("jsonl", description="where the pairs come from")
    path: str | None = Field(None, description="jsonl: the pairs file")
    eval_fraction: float = Field(
        0.1, ge=0, lt=1, description="share of the pairs held out for the pairwise accuracy"
    )
    tasks: int = Field(32, gt=0, description="rollouts: train tasks sampled")
    samples_per_task: int = Field(
        2, ge=2, description="rollouts: episodes per task, judged two by two"
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="rollouts: the judge")

    @model_validator(mode="after")
    def _source_fields(self) -> RewardModelPairsConfig:
        if self.source == "jsonl" and not self.path:
            raise ValueError("source 'jsonl' needs path (the pairs file)")
        if self.source == "jsonl":
            stray = sorted(self.model_fields_set & {"tasks", "samples_per_task", "judge"})
            if stray:
                raise ValueError(f"source 'jsonl' does not read {', '.join(stray)}; remove it")
        if self.source == "rollouts" and self.path:
            raise ValueError("source 'rollouts' does not read path; remove it")
        return self


class RewardModelTraining(Strict):
    """The Bradley-Terry training (a fresh AdamW); also a pipeline ``reward_model`` stage's."""

    epochs: int = Field(2, gt=0, description="passes over the training pairs")
    batch_size: int = Field(16, gt=0, description="pairs per optimizer step")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping (null: none)")
    max_length: int = Field(1024, gt=0, description="tokens read per text (the end is kept)")


class RewardModelTrainConfig(RewardModelTraining):
    seed: int = Field(0, description="seed of the split, the shuffling and the rollouts")
    output_dir: str = Field("runs/reward_model", description="the reward model's folder")
    overwrite: bool = Field(False, description="replace a reward model already in output_dir")
    torch_threads: int | None = Field(None, gt=0, description="torch.set_num_threads")


class RewardModelRunConfig(Strict):
    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="the causal LM the reward model starts from ('tiny': built offline, its "
        "tokenizer trained on the pairs' text)",
    )
    pairs: RewardModelPairsConfig
    env: EnvConfig | None = Field(None, description="rollouts: the environment")
    policy: str | None = Field(
        None, description="rollouts: the policy checkpoint (default: model.name_or_path)"
    )
    agent: AgentSettings = Field(default_factory=AgentSettings, description="rollouts: the agent")
    train: RewardModelTrainConfig = Field(default_factory=RewardModelTrainConfig)

    @model_validator(mode="after")
    def _rollouts_need_an_env(self) -> RewardModelRunConfig:
        if self.pairs.source == "rollouts" and self.env is None:
            raise ValueError("pairs.source 'rollouts' needs an env section")
        if self.pairs.source == "jsonl" and (self.env is not None or self.policy is not None):
            raise ValueError("pairs.source 'jsonl' reads no env or policy; remove them")
        return self
