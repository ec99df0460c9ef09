"""The pipeline runner (``turngym pipeline``): a :class:`~turngym.config.pipeline.PipelineConfig`'s
stages in order, each a run of the same loops with a checkpoint in and a checkpoint out.

1. The first policy (``model``) is evaluated on the first ``run.eval_episodes`` held-out tasks.
2. Each stage runs from the checkpoint the one before it produced, in its own folder
   ``run.output_dir/stages/NN_name``, and its checkpoint is evaluated on the same tasks with the
   same sampling seeds. A stage's "before" is the evaluation of the checkpoint it started from.
3. ``pipeline_state.json`` records every finished stage (its checkpoint, evaluation, metrics and
   a fingerprint of its config); ``report.json`` and ``report.md`` hold the per-stage table.

Resume (``run.resume=true``): finished stages are not rerun (a finished stage whose config
changed since is refused, naming it); the stage that was running starts again, an ``rl``
stage from its latest checkpoint (the trainer's own exact resume).

Stage kinds are plug-ins: a runner registered with :func:`register_stage` under the kind whose
config schema :func:`turngym.config.pipeline.register_stage_config` registered. A runner gets
its stage config and a :class:`StageContext` and returns a :class:`StageOutcome`: the policy
checkpoint the next stage starts from (a stage that trains something else, e.g. a reward
model, returns the policy it got) and named artifacts that later stages find in
``context.outcomes[name].artifacts``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from turngym.agents.agent import AgentConfig
from turngym.agents.backends import load_policy, load_pretrained, policy_backend
from turngym.common.run_folder import RunFolderError, prepare_run_folder
from turngym.config.pipeline import STAGE_CONFIGS, PipelineConfig, StageConfig
from turngym.config.run import ConfigError
from turngym.rewards.scorers import Rubric

from .evaluate import EvalReport, evaluate_policy, format_rate
from .metrics import strict_json, write_json

STATE_FILE = "pipeline_state.json"
REPORT_FILES = ("report.json", "report.md")


@dataclass
class StageOutcome:
    """What a stage hands on: the policy checkpoint, its metrics, named artifacts."""

    policy: str
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


@dataclass
class StageContext:
    """What a stage runner gets besides its config.

    Attributes:
        pipeline: the whole pipeline config (shared env, model, agent, rollout, run).
        index: the stage's position (0-based).
        folder: the stage's own folder (created; a runner may write anything into it).
        policy: the checkpoint the stage starts from.
        seed: the stage's seed, ``run.seed + index``.
        resuming: the stage was running when the pipeline stopped, and its folder is as it was.
        outcomes: the finished stages before it, by name.
    """

    pipeline: PipelineConfig
    index: int
    folder: Path
    policy: str
    seed: int
    resuming: bool
    outcomes: dict[str, StageOutcome]

    @property
    def artifacts(self) -> dict[str, dict[str, str]]:
        """Stage name -> the artifacts it produced (what ``${stage.artifact}`` resolves to)."""
        return {name: outcome.artifacts for name, outcome in self.outcomes.items()}

    @property
    def agent_config(self) -> AgentConfig:
        return AgentConfig(**self.pipeline.agent.model_dump())


StageRunner = Callable[[StageConfig, StageContext], StageOutcome]
#: stage kind -> its runner
STAGE_RUNNERS: dict[str, StageRunner] = {}


def register_stage(kind: str) -> Callable[[StageRunner], StageRunner]:
    """Register the runner of the stage kind ``kind`` (its config schema registers with
    :func:`turngym.config.pipeline.register_stage_config`)."""

    def add(runner: StageRunner) -> StageRunner:
        if kind in STAGE_RUNNERS and STAGE_RUNNERS[kind] is not runner:
            raise ValueError(f"a runner of stage kind {kind!r} is already registered")
        STAGE_RUNNERS[kind] = runner
        return runner

    return add


def fingerprint(stage: StageConfig, pipeline: PipelineConfig) -> str:
    """A hash of the stage's config and the shared blocks it runs with."""
    shared = {name: getattr(pipeline, name).model_dump() for name in ("env", "model", "agent")}
    text = json.dumps({"stage": stage.model_dump(), **shared}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Pipeline:
    """Runs a :class:`PipelineConfig` (see the module docstring)."""

    def __init__(self, config: PipelineConfig):
        from . import pipeline_alignment, pipeline_stages  # noqa: F401  (the built-in runners)

        missing = sorted({stage.kind for stage in config.stages} - set(STAGE_RUNNERS))
        if missing:
            raise ConfigError(f"stage kinds {missing} have a config schema but no runner; "
                              f"registered runners: {sorted(STAGE_RUNNERS)}")  # fmt: skip
        self.config = config
        run = config.run
        config.env.check_tasks(run.eval_episodes)
        self.output = Path(run.output_dir)
        self.state = self._prepare_folder()
        (self.output / "pipeline_config.yaml").write_text(yaml.safe_dump(config.model_dump()))
        if run.torch_threads:
            torch.set_num_threads(run.torch_threads)
        self.eval_ids = config.env.eval_task_ids(run.eval_episodes)

    def _prepare_folder(self) -> dict[str, Any]:
        run, state_file = self.config.run, self.output / STATE_FILE
        if run.resume and state_file.is_file():
            state = json.loads(state_file.read_text())
            self._check_finished(state)
            return state
        if run.resume and self.output.is_dir() and any(self.output.iterdir()):
            raise RunFolderError(f"run.output_dir={str(self.output)!r} holds no {STATE_FILE}: it "
                                 "is not a pipeline's folder; choose another, or clear it with "
                                 "run.overwrite=true")  # fmt: skip
        prepare_run_folder(self.output, resume=False, overwrite=run.overwrite, section="run")
        return {"initial": None, "stages": {}, "running": None}

    def _check_finished(self, state: dict[str, Any]) -> None:
        stages = {stage.name: stage for stage in self.config.stages}
        for name, done in state["stages"].items():
            if name in stages and done["fingerprint"] != fingerprint(stages[name], self.config):
                raise ConfigError(
                    f"stage {name!r} finished with a different config (or shared env, model, "
                    "agent) than it has now; restore it, or start over with run.overwrite=true"
                )

    def _save_state(self) -> None:
        path = self.output / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(strict_json(self.state), indent=2))
        temporary.replace(path)  # a kill never leaves half a state file

    def evaluate(self, checkpoint: str) -> EvalReport:
        """The checkpoint on the pipeline's held-out tasks, with the same seeds every time."""
        run = self.config.run
        model, tokenizer = load_pretrained(checkpoint, self.config.model.dtype)
        model.eval()
        backend = policy_backend(self.config.model, model, tokenizer, seed=run.seed)
        agent_config = AgentConfig(**self.config.agent.model_dump())
        rubric = Rubric.from_specs(run.eval_scorers) if run.eval_scorers else None
        with self.config.env.make_pool(self.config.rollout) as pool:
            return evaluate_policy(backend, tokenizer, agent_config, pool, self.eval_ids,
                                   run.seed, run.progress, rubric)  # fmt: skip

    def first_policy(self) -> str:
        """The checkpoint of ``model``: the tiny model built into ``base_model/``, else the name
        or path as given."""
        config = self.config
        if config.model.name_or_path != "tiny":
            return config.model.name_or_path
        folder = self.output / "base_model"
        load_policy(config.model, folder, config.env.id, config.env.make_kwargs(), config.run.seed)
        return str(folder)

    def run(self) -> dict[str, Any]:
        """Every stage not finished yet, in order; the report."""
        policy = self.first_policy()
        if self.state["initial"] is None:
            report = self.evaluate(policy)
            self.state["initial"] = report.to_dict()
            self._save_state()
            tqdm.write(f"[initial policy] eval: {report.summary()}")
        outcomes: dict[str, StageOutcome] = {}
        for index, stage in enumerate(self.config.stages):
            done = self.state["stages"].get(stage.name)
            if done is not None:
                tqdm.write(f"stage {stage.name} ({stage.kind}): finished before, not rerun")
                outcomes[stage.name] = StageOutcome(**done["outcome"])
                policy = outcomes[stage.name].policy
                continue
            outcome = self._run_stage(index, stage, policy, outcomes)
            outcomes[stage.name] = outcome
            policy = outcome.policy
        result = self.report()
        write_json(self.output / "report.json", result)
        (self.output / "report.md").write_text(markdown_table(result) + "\n")
        return result

    def _run_stage(
        self, index: int, stage: StageConfig, policy: str, outcomes: dict[str, StageOutcome]
    ) -> StageOutcome:
        folder = self.output / "stages" / f"{index + 1:02d}_{stage.name}"
        resuming = self.state["running"] == stage.name and folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.state["running"] = stage.name
        self._save_state()
        tqdm.write(f"stage {stage.name} ({stage.kind}) from {policy}"
                   + (" (resuming)" if resuming else ""))  # fmt: skip
        context = StageContext(self.config, index, folder, policy, self.config.run.seed + index,
                               resuming, dict(outcomes))  # fmt: skip
        start = time.perf_counter()
        outcome = STAGE_RUNNERS[stage.kind](stage, context)
        seconds = time.perf_counter() - start
        report = self.evaluate(outcome.policy)
        tqdm.write(f"[after {stage.name}] eval: {report.summary()}")
        self.state["stages"][stage.name] = {
            "kind": stage.kind,
            "fingerprint": fingerprint(stage, self.config),
            "outcome": asdict(outcome),
            "eval": report.to_dict(),
            "seconds": seconds,
        }
        self.state["running"] = None
        self._save_state()
        return outcome

    def report(self) -> dict[str, Any]:
        """Rows of (stage, kind, success before and after, mean return after, minutes)."""
        rows, before = [], self.state["initial"]
        for stage in self.config.stages:
            done = self.state["stages"][stage.name]
            after = done["eval"]
            rows.append({
                "stage": stage.name, "kind": stage.kind,
                "success_before": before["success_rate"], "success_after": after["success_rate"],
                "success_after_ci95": after["success_ci95"],
                "scores_before": before.get("reward_terms", {}),
                "scores_after": after.get("reward_terms", {}),
                "mean_return_after": after["mean_return"], "minutes": done["seconds"] / 60,
                "checkpoint": done["outcome"]["policy"], "metrics": done["outcome"]["metrics"],
            })  # fmt: skip
            before = after
        return {
            "env": self.config.env.id,
            "eval_episodes": len(self.eval_ids),
            "initial": self.state["initial"],
            "stages": rows,
            "final_checkpoint": rows[-1]["checkpoint"] if rows else None,
        }


def markdown_table(report: dict[str, Any]) -> str:
    """The per-stage table of a report, as Markdown: success before and after each stage (with
    its 95% Wilson interval), the evaluation scorers' means after it, then each stage's
    metrics."""
    scorers = list(report["initial"].get("reward_terms", {}))
    initial = report["initial"]
    lines = [
        f"Success on {report['eval_episodes']} held-out {report['env']} episodes "
        f"(initial policy: {format_rate(initial['success_rate'], initial['success_ci95'])}"
        + "".join(f", {name} {initial['reward_terms'][name]:.3f}" for name in scorers)
        + ")",
        "",
        "| stage | kind | before | after [95% CI] | change | "
        + "".join(f"{name} after | " for name in scorers)
        + "minutes |",
        "|---|---|---|---|---|" + "---|" * len(scorers) + "---|",
    ]
    for row in report["stages"]:
        change = row["success_after"] - row["success_before"]
        after = format_rate(row["success_after"], row["success_after_ci95"])
        scores = "".join(f"{row['scores_after'].get(name, float('nan')):.3f} | "
                         for name in scorers)  # fmt: skip
        lines.append(f"| {row['stage']} | {row['kind']} | {row['success_before']:.1%} | "
                     f"{after} | {change * 100:+.1f} pts | {scores}"
                     f"{row['minutes']:.1f} |")  # fmt: skip
    metrics = [row for row in report["stages"] if row["metrics"]]
    if metrics:
        lines += ["", "Stage metrics:"]
        lines += [f"- {row['stage']}: " + ", ".join(f"{key} {value:.4g}" for key, value in
                                                     row["metrics"].items())
                  for row in metrics]  # fmt: skip
    return "\n".join(lines)


def check_registries() -> list[str]:
    """Stage kinds with a config schema and no runner, or a runner and no schema."""
    from . import pipeline_alignment, pipeline_stages  # noqa: F401

    return sorted(set(STAGE_CONFIGS) ^ set(STAGE_RUNNERS))
