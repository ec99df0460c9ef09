"""The ``turngym`` command line: list, play, train and evaluate.

turngym envs
turngym play turngym/Household-v0 --task-id 3
turngym train configs/household.yaml algo.learning_rate=3e-4
turngym preference configs/dmpo.yaml algo.loss=dpo
turngym preference configs/online_dpo.yaml online.iterations=20
turngym eval --checkpoint runs/household/checkpoints/iter_00060 --env turngym/Household-v0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from turngym.envs.webshop.cli import app as webshop_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
console = Console()
app.add_typer(webshop_app, name="webshop")  # turngym webshop serve | generate


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _json_option(text: str | None, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        _fail(f"{name} must be a JSON object, got {text!r} ({error})")
    if not isinstance(value, dict):
        _fail(f"{name} must be a JSON object, got {text!r}")
    return value


@app.command()
def envs() -> None:
    """List the registered turngym environments."""
    import gymnasium as gym

    from turngym.envs import list_envs

    table = Table("id", "max steps", "entry point")
    for env_id in list_envs():
        spec = gym.spec(env_id)
        table.add_row(env_id, str(spec.max_episode_steps), str(spec.entry_point))
    console.print(table)


@app.command()
def play(
    env_id: Annotated[str, typer.Argument(help="a registered id, e.g. turngym/Household-v0")],
    task_id: Annotated[int | None, typer.Option(help="pin a task")] = None,
    seed: Annotated[int | None, typer.Option(help="reset seed")] = None,
    env_kwargs: Annotated[str | None, typer.Option(help="JSON kwargs for gymnasium.make")] = None,
) -> None:
    """Play an environment in the terminal: type an action, or the number of an admissible one."""
    import gymnasium as gym

    from turngym.envs import check_env_id

    try:
        check_env_id(env_id)
    except ValueError as error:
        _fail(str(error))
    env = gym.make(env_id, **_json_option(env_kwargs, "--env-kwargs"))
    options = {"task_id": task_id} if task_id is not None else None
    observation, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        console.print(f"\n{escape(observation)}", highlight=False)
        actions = info.get("admissible_actions") or []
        for number, action in enumerate(actions, 1):
            console.print(f"  [cyan]{number:>2}[/] {escape(action)}", highlight=False)
        try:
            typed = input("> ").strip()
        except EOFError:
            break
        if typed in {"quit", "exit"}:
            break
        if typed.isdigit() and 1 <= int(typed) <= len(actions):
            typed = actions[int(typed) - 1]
        observation, reward, terminated, truncated, info = env.step(typed)
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            console.print(f"\n{escape(observation)}", highlight=False)
            outcome = "won" if info.get("won") else ("out of steps" if truncated else "ended")
            console.print(f"[bold]{outcome}[/] after {steps} steps, return {total:g}")
            break
    env.close()


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML run config")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value ...")] = None,
) -> None:
    """Train an agent with a config file and dotted overrides."""
    from turngym.algos.config import ConfigError, load_config
    from turngym.algos.trainer import Trainer

    try:
        run = load_config(config, overrides or [])
    except ConfigError as error:
        _fail(str(error))
    console.print(f"training {run.env.id} with {run.algo.advantage} -> {run.train.output_dir}")
    result = Trainer(run).train()
    before, after = result["before"], result["after"]
    console.print(
        f"success rate on {after['episodes']} held-out episodes: "
        f"{before['success_rate']:.1%} before training -> {after['success_rate']:.1%} after "
        f"{after['iteration']} iterations\ncheckpoint: {result['checkpoint']}",
        highlight=False,
    )
    Path(run.train.output_dir, "result.json").write_text(json.dumps(result, indent=2))


@app.command()
def preference(
    config: Annotated[Path, typer.Argument(help="YAML preference config")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value ...")] = None,
) -> None:
    """Preference training (DMPO, DPO, KTO, ...) on pairs of the policy's own episodes: offline
    from one sample, or online with a judge picking each pair's winner (mode: online)."""
    from turngym.algos.config import ConfigError, PreferenceRunConfig, load_config
    from turngym.algos.preference_run import run_preference

    try:
        run = load_config(config, overrides or [], PreferenceRunConfig)
    except ConfigError as error:
        _fail(str(error))
    algo = run.algo.loss
    if run.mode == "online":
        algo = f"online {algo} ({run.online.judge.kind} judge)"
    console.print(f"{algo} on {run.env.id} -> {run.train.output_dir}", highlight=False)
    result = run_preference(run)
    labels = {"before": "before", "warm_start": "after warm start", "after": f"after {algo}"}
    stages = " -> ".join(
        f"{result[stage]['success_rate']:.1%} {label}"
        for stage, label in labels.items()
        if stage in result
    )
    console.print(
        f"success rate on {result['after']['episodes']} held-out episodes: {stages}\n"
        f"checkpoint: {result['checkpoint']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="a save_pretrained folder")],
    env: Annotated[str, typer.Option(help="environment id")],
    episodes: Annotated[int, typer.Option(min=1, help="held-out episodes")] = 100,
    task_start: Annotated[
        int | None, typer.Option(help="first task id (default: the run's eval tasks, else 0)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="generate or choose (default: saved)")] = None,
    temperature: Annotated[float | None, typer.Option(help="default: saved")] = None,
    env_kwargs: Annotated[str | None, typer.Option(help="JSON kwargs for gymnasium.make")] = None,
    workers: Annotated[int, typer.Option(min=0, help="environment worker processes")] = 0,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    output: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
) -> None:
    """Evaluate a checkpoint: success rate, mean return and length, as JSON."""
    import torch

    from turngym.agents import Agent, AgentConfig, EnvPool, TransformersBackend
    from turngym.algos.evaluate import evaluate_agent
    from turngym.envs import check_env_id

    if not (checkpoint / "config.json").exists():
        _fail(f"--checkpoint {checkpoint} is not a save_pretrained folder (no config.json)")
    try:
        check_env_id(env)
    except ValueError as error:
        _fail(str(error))
    if mode not in (None, "generate", "choose"):
        _fail(f"--mode must be generate or choose, got {mode!r}")
    agent_config = AgentConfig.load(checkpoint)
    agent_config.mode = mode or agent_config.mode
    if temperature is not None:
        agent_config.temperature = temperature
    if task_start is None:
        task_start = _saved_eval_start(checkpoint, env)
    torch.manual_seed(seed)
    backend = TransformersBackend.from_pretrained(checkpoint)
    agent = Agent(backend, backend.tokenizer, agent_config, seed=seed)
    task_ids = list(range(task_start, task_start + episodes))
    with EnvPool(env, _json_option(env_kwargs, "--env-kwargs"), 64, workers) as pool:
        report, _ = evaluate_agent(agent, pool, task_ids, seed=seed, progress=True)
    text = json.dumps({**report.to_dict(), "checkpoint": str(checkpoint)}, indent=2)
    if output is not None:
        output.write_text(text)
    print(text)


def _saved_eval_start(checkpoint: Path, env_id: str) -> int:
    saved = checkpoint / "run_config.yaml"
    if saved.exists():
        run = yaml.safe_load(saved.read_text())
        if run.get("env", {}).get("id") == env_id:
            return int(run["env"]["eval_tasks"]["start"])
    return 0


@app.command("build-tiny")
def build_tiny(
    output_dir: Annotated[Path, typer.Argument(help="folder to write")],
    env_id: Annotated[list[str] | None, typer.Option(help="envs whose text trains the BPE")] = None,
) -> None:
    """Build the tiny offline model and tokenizer (a save_pretrained folder)."""
    from turngym.agents.tiny import build_tiny_model

    path = build_tiny_model(output_dir, env_ids=env_id or None)
    console.print(f"tiny model written to {path}")


if __name__ == "__main__":
    app()
