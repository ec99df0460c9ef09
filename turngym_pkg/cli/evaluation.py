"""``turngym eval``: a checkpoint, a Hugging Face model or an OpenAI-compatible endpoint on one
or more environments; a report with intervals, resumable with ``--output-dir``.

turngym eval --checkpoint runs/household/checkpoints/iter_00060 --env turngym/Household-v0
turngym eval --checkpoint Qwen/Qwen2.5-0.5B-Instruct --env turngym/WebShop-v0 --samples 4
turngym eval --endpoint http://127.0.0.1:8000/v1 --env turngym/Household-v0 --output-dir ev/
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ConfigDict

from turngym.config.run import EnvConfig


class _EnvBlock(BaseModel):
    """The ``env`` block of any run config (``--config``); the rest of the file is ignored."""

    model_config = ConfigDict(extra="ignore")
    env: EnvConfig


def evaluate(
    env: Annotated[
        list[str] | None, typer.Option(help="environment id (repeat for several)")
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="a save_pretrained folder or a Hugging Face model name")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="an OpenAI-compatible API root, e.g. http://host:8000/v1")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="the endpoint's model name (default: the one it lists)")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the endpoint's key")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="a run config: its env block (id, kwargs, eval tasks)")
    ] = None,
    episodes: Annotated[int, typer.Option(min=1, help="tasks per environment")] = 100,
    samples: Annotated[int, typer.Option(min=1, help="episodes per task (pass@k, mean@k)")] = 1,
    task_start: Annotated[
        int | None, typer.Option(help="first task id (default: the run's eval tasks, else 0)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="generate or choose (default: saved)")] = None,
    temperature: Annotated[float | None, typer.Option(help="default: saved")] = None,
    top_p: Annotated[float | None, typer.Option(help="default: saved")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="default: saved")] = None,
    env_kwargs: Annotated[
        str | None, typer.Option(help="JSON kwargs for gymnasium.make (of every --env)")
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="environment worker processes")] = 0,
    slots: Annotated[int, typer.Option(min=1, help="episodes running at once")] = 64,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    output: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="report.json, report.md, plot, episodes.jsonl; rerun to resume"),
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option("--import", help="a module or .py file that registers your own environments"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="progress bar")] = True,
) -> None:
    """Evaluate a model: success with its 95% interval, per task type, return, length,
    invalid actions, pass@k; JSON (printed, --output), and with --output-dir also Markdown, a
    plot and the episodes (resumed on a rerun)."""
    from .app import _fail

    if (checkpoint is None) == (endpoint is None):
        _fail("give --checkpoint (a folder or a Hugging Face name) or --endpoint (a URL)")
    if mode not in (None, "generate", "choose"):
        _fail(f"--mode must be generate or choose, got {mode!r}")
    env_block = _load_env_block(config) if config is not None else None
    env_ids = list(dict.fromkeys(list(env or []) + ([env_block.id] if env_block else [])))
    if not env_ids:
        _fail("give --env ID (one or more) or --config FILE")
    all_imports = list(imports or []) + (env_block.imports if env_block else [])
    if checkpoint is not None:
        _check_checkpoint(checkpoint)
    targets = _targets(
        env_ids, env_block, env_kwargs, all_imports, checkpoint, task_start, episodes
    )
    if output is not None and output.is_dir():
        _fail(f"--output {output} is a folder; give a file path for the JSON report")
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        _fail(f"--output-dir {output_dir} is a file; give a folder")
    settings = {
        "mode": mode,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
    }
    build_agent, identity, agent_config = _agent_setup(
        checkpoint, endpoint, model, api_key_env, settings, seed
    )
    setup = {
        "model": identity,
        "sampling": agent_config,
        "seed": seed,
        "samples_per_task": samples,
        "environments": {
            t.env_id: {
                "kwargs": t.env_kwargs,
                "task_ids": _task_range(t.task_ids),
                "entry_point": _entry_point(t.env_id),
            }
            for t in targets
        },
    }
    from turngym.algos.eval_run import check_setup, run_evaluation

    if output_dir is not None:  # a resumed run's settings are checked before the model loads
        check_setup(output_dir, setup)
    if output is not None:  # before the work, so that its results have somewhere to go
        output.parent.mkdir(parents=True, exist_ok=True)
    report = run_evaluation(
        build_agent(),
        targets,
        setup,
        output_dir,
        samples=samples,
        seed=seed,
        num_workers=workers,
        num_slots=slots,
        imports=tuple(all_imports),
        progress=progress,
    )
    if output_dir is not None and checkpoint is not None:
        _plot_training_run(Path(checkpoint), output_dir)
    from turngym.algos.metrics import strict_json

    text = json.dumps(strict_json(report), indent=2, allow_nan=False)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    print(text)
    from turngym.algos.evaluate import format_rate

    for env_id, section in report["results"].items():
        line = (
            f"{env_id}: success {format_rate(section['success_rate'], section['success_ci95'])}"
            f" over {section['episodes']} episodes"
        )
        typer.echo(line, err=True)
        if section["env_errors"]:
            typer.echo(
                f"warning: {env_id}: {section['env_errors']} episodes lost to environment "
                "errors, not counted in success_rate",
                err=True,
            )


def _load_env_block(path: Path) -> EnvConfig:
    from turngym.config.run import load_config

    return load_config(path, [], _EnvBlock).env


def _check_checkpoint(checkpoint: str) -> None:
    """A local folder must be a ``save_pretrained`` one; a name that is no local path is taken
    for a Hugging Face model id (``org/name``) and loaded as such."""
    from .app import _fail

    path = Path(checkpoint)
    if path.exists():
        if not (path / "config.json").exists():
            _fail(f"--checkpoint {checkpoint} is not a save_pretrained folder (no config.json)")
        return
    parts = checkpoint.split("/")
    looks_like_hub_id = len(parts) == 2 and all(parts) and not checkpoint.startswith((".", "~"))
    if not looks_like_hub_id:
        _fail(f"--checkpoint {checkpoint}: no such folder (nor a Hugging Face id, org/name)")


def _targets(
    env_ids: list[str],
    env_block: EnvConfig | None,
    env_kwargs: str | None,
    imports: list[str],
    checkpoint: str | None,
    task_start: int | None,
    episodes: int,
) -> list[Any]:
    """Each environment's checked kwargs and task ids (a range past its tasks fails here)."""
    from turngym.algos.eval_run import EvalTarget
    from turngym.envs.registry import check_task_ranges, env_task_count

    from .app import _env_setup

    targets = []
    for env_id in env_ids:
        from_config = env_block is not None and env_id == env_block.id
        kwargs = _env_setup(env_id, env_kwargs, imports)
        if from_config:
            kwargs = {**env_block.make_kwargs(), **kwargs}
        start = task_start
        if start is None:
            start = (
                env_block.eval_tasks.start if from_config else _saved_eval_start(checkpoint, env_id)
            )
        task_ids = list(range(start, start + episodes))
        check_task_ranges(
            env_id,
            env_task_count(env_id, kwargs),
            {"--task-start/--episodes": range(start, start + episodes)},
        )
        targets.append(EvalTarget(env_id, kwargs, task_ids))
    return targets


def _plot_training_run(checkpoint: Path, output_dir: Path) -> None:
    """The training curves of the run a checkpoint came from (``RUN/checkpoints/iter_N`` or a
    run folder that is itself the checkpoint), beside the report."""
    from turngym.algos.metrics import read_metrics
    from turngym.algos.plots import plot_training_curves

    for run in (checkpoint, checkpoint.parent.parent):
        if (run / "metrics.jsonl").is_file():
            try:
                plot_training_curves(read_metrics(run / "metrics.jsonl"),
                                     output_dir / "training_curves.png")  # fmt: skip
            except ValueError:  # a run that logged no curve yet
                pass
            return


def _saved_eval_start(checkpoint: str | None, env_id: str) -> int:
    saved = Path(checkpoint or "", "run_config.yaml")
    if checkpoint is not None and saved.exists():
        run = yaml.safe_load(saved.read_text())
        if run.get("env", {}).get("id") == env_id:
            return int(run["env"]["eval_tasks"]["start"])
    return 0


def _agent_setup(checkpoint, endpoint, model, api_key_env, settings, seed):
    """What builds the agent (the model loads only when it is called), the model's identity
    for the report, and the agent's sampling settings."""
    from dataclasses import asdict

    from turngym.agents import AgentConfig

    agent_config = (
        AgentConfig.load(checkpoint) if checkpoint and Path(checkpoint).is_dir() else AgentConfig()
    )
    for key, value in settings.items():
        if value is not None:
            setattr(agent_config, key, value)
    if endpoint is not None:
        from turngym.agents.endpoint_agent import EndpointAgent
        from turngym.common.chat_client import ChatClient

        api_key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not api_key:
            raise ValueError(f"--api-key-env {api_key_env}: that environment variable is empty")
        client = ChatClient(endpoint, model or "", api_key=api_key)
        served = client.list_models()
        client.model = model or (served[0] if served else "")
        if not client.model:
            raise ValueError(f"{endpoint} lists no model; give --model")
        agent = EndpointAgent(client, agent_config, seed=seed)
        identity = {"kind": "endpoint", "name": client.model, "endpoint": endpoint}
        return lambda: agent, identity, asdict(agent_config)

    def build() -> Any:
        import torch

        from turngym.agents import Agent
        from turngym.agents.backends import make_backend

        torch.manual_seed(seed)
        backend = make_backend(name_or_path=checkpoint)
        return Agent(backend, backend.tokenizer, agent_config, seed=seed)

    identity = {"kind": "checkpoint", "name": checkpoint, **_checkpoint_identity(checkpoint)}
    return build, identity, asdict(agent_config)


def _checkpoint_identity(checkpoint: str) -> dict[str, Any]:
    """A local folder's resolved path and its weights' size and modification time, so that a
    report names the files it measured and a resumed evaluation of re-trained weights (same
    folder, new files) is refused rather than mixed."""
    path = Path(checkpoint)
    if not path.is_dir():
        return {"source": "huggingface"}
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    return {
        "path": str(path.resolve()),
        "weights": {
            w.name: {"bytes": w.stat().st_size, "modified_ns": w.stat().st_mtime_ns}
            for w in weights
        },
    }


def _task_range(task_ids: list[Any]) -> dict[str, Any]:
    return {"start": task_ids[0], "stop": task_ids[-1] + 1}


def _entry_point(env_id: str) -> str:
    import gymnasium as gym

    return str(gym.spec(env_id).entry_point)
