"""The ``turngym`` command line: list, play, train and evaluate.

turngym envs
turngym play turngym/Household-v0 --task-id 3
turngym train configs/household.yaml algo.learning_rate=3e-4
turngym preference configs/dmpo.yaml algo.loss=dpo
turngym preference configs/online_dpo.yaml online.iterations=20
turngym pipeline configs/pipeline_household.yaml
turngym eval --checkpoint runs/household/checkpoints/iter_00060 --env turngym/Household-v0
turngym compare A/report.json B/report.json | turngym view A | turngym plot runs/household
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import gymnasium as gym
import typer
from rich.console import Console
from rich.table import Table

from turngym.cli.pipeline import app as pipeline_app
from turngym.config.run import ConfigError
from turngym.envs.webshop.cli import app as webshop_app

from .evaluation import evaluate
from .reports import COMMANDS as REPORT_COMMANDS
from .reward_model import reward_model
from .serve import serve

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=__doc__.split("\n")[0],
    pretty_exceptions_enable=False,
)
app.add_typer(webshop_app, name="webshop")  # turngym webshop serve | generate
app.add_typer(pipeline_app)  # turngym pipeline CONFIG
console = Console(highlight=False)
DEBUG_VARIABLE = "TURNGYM_DEBUG"


class CommandError(Exception):
    """A bad input a command found itself: printed as one ``error:`` line, exit code 2."""


def _fail(message: str) -> None:
    raise CommandError(message)


def reports_errors(command: Callable) -> Callable:
    """Every failure of ``command`` becomes one ``error: ...`` line on stderr and a non-zero
    exit: 2 for a bad input (a config, an argument, a folder, a model, an environment that does
    not start), 1 for anything unexpected. ``TURNGYM_DEBUG=1`` re-raises, with the traceback."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as error:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            bad_input = isinstance(error, _bad_input_errors())
            message = str(error) if bad_input else f"{type(error).__name__}: {error}"
            if not bad_input:
                message += f" (unexpected; {DEBUG_VARIABLE}=1 shows the traceback)"
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code=2 if bad_input else 1) from None

    return guarded


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    from turngym.agents.backends.loading import ModelLoadError
    from turngym.agents.rollout import EnvStartError
    from turngym.common.run_folder import RunFolderError

    return (
        CommandError, ConfigError, RunFolderError, ModelLoadError, EnvStartError,
        ValueError, FileNotFoundError, ImportError, ConnectionError, gym.error.Error,
    )  # fmt: skip


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


def _env_setup(env_id: str, env_kwargs: str | None, imports: list[str] | None) -> dict[str, Any]:
    """Import ``--import`` modules, check the id and the kwargs; the kwargs."""
    from turngym.envs import check_env_id, check_env_kwargs, import_env_modules

    import_env_modules(imports or [])
    check_env_id(env_id)
    return check_env_kwargs(env_id, _json_option(env_kwargs, "--env-kwargs"))


ImportOption = Annotated[
    list[str] | None,
    typer.Option("--import", help="a module or .py file that registers your own environments"),
]


@app.command()
@reports_errors
def envs() -> None:
    """List the registered turngym environments."""
    from turngym.envs import list_envs

    table = Table("id", "max steps", "entry point")
    for env_id in list_envs():
        spec = gym.spec(env_id)
        table.add_row(env_id, str(spec.max_episode_steps), str(spec.entry_point))
    console.print(table)


@app.command()
@reports_errors
def play(
    env_id: Annotated[str, typer.Argument(help="a registered id, e.g. turngym/Household-v0")],
    task_id: Annotated[int | None, typer.Option(help="pin a task")] = None,
    seed: Annotated[int | None, typer.Option(help="reset seed")] = None,
    env_kwargs: Annotated[str | None, typer.Option(help="JSON kwargs for gymnasium.make")] = None,
    imports: ImportOption = None,
) -> None:
    """Play an environment in the terminal: type an action, or the number of an admissible one."""
    kwargs = _env_setup(env_id, env_kwargs, imports)
    env = gym.make(env_id, **kwargs)
    try:
        options = {"task_id": task_id} if task_id is not None else None
        observation, info = env.reset(seed=seed, options=options)
        _play_loop(env, observation, info)
    finally:
        env.close()


def _play_loop(env: gym.Env, observation: str, info: dict[str, Any]) -> None:
    total, steps = 0.0, 0
    while True:
        console.print(f"\n{observation}", markup=False)
        actions = info.get("admissible_actions") or []
        for number, action in enumerate(actions, 1):
            console.print(f"  {number:>2} {action}", markup=False)
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
            console.print(f"\n{observation}", markup=False)
            outcome = "won" if info.get("won") else ("out of steps" if truncated else "ended")
            console.print(f"{outcome} after {steps} steps, return {total:g}", markup=False)
            break


@app.command()
@reports_errors
def train(
    config: Annotated[Path, typer.Argument(help="YAML run config")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value ...")] = None,
) -> None:
    """Train an agent with a config file and dotted overrides."""
    from turngym.config.run import load_config

    run = load_config(config, overrides or [])
    from turngym.algos.metrics import write_json
    from turngym.algos.trainer import Trainer

    console.print(
        f"training {run.env.id} with {run.algo.advantage} -> {run.train.output_dir}", markup=False
    )
    result = Trainer(run).train()
    if os.environ.get("RANK", "0") != "0":  # several ranks (deepspeed, torchrun): rank 0 reports
        return
    after = result["after"]
    stages = [(result["before"], "before training")]
    if "warm_start" in result:
        stages.append((result["warm_start"], "after the warm start"))
    stages.append((after, f"after {after['iteration']} iterations"))
    console.print(
        f"success rate on {after['episodes']} held-out episodes [95% Wilson interval]: "
        + " -> ".join(f"{_rate(row)} {label}" for row, label in stages)
        + f"\ncheckpoint: {result['checkpoint']}",
        markup=False,
        soft_wrap=True,
    )
    write_json(Path(run.train.output_dir, "result.json"), result)


@app.command()
@reports_errors
def preference(
    config: Annotated[Path, typer.Argument(help="YAML preference config")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value ...")] = None,
) -> None:
    """Preference training (DMPO, DPO, KTO, ...) on pairs of the policy's own episodes: offline
    from one sample, or online with a judge picking each pair's winner (mode: online)."""
    from turngym.config.run import PreferenceRunConfig, load_config

    run = load_config(config, overrides or [], PreferenceRunConfig)
    from turngym.algos.preference_run import run_preference

    algo = run.algo.loss
    if run.mode == "online":
        algo = f"online {algo} ({run.online.judge.kind} judge)"
    if run.mode == "sppo":
        algo = f"sppo ({run.sppo.judge.kind} judge)"
    console.print(f"{algo} on {run.env.id} -> {run.train.output_dir}", markup=False)
    result = run_preference(run)
    labels = {"before": "before", "warm_start": "after warm start", "after": f"after {algo}"}
    stages = " -> ".join(
        f"{_rate(result[stage])} {label}" for stage, label in labels.items() if stage in result
    )
    console.print(
        f"success rate on {result['after']['episodes']} held-out episodes [95% Wilson "
        f"interval]: {stages}\n"
        f"checkpoint: {result['checkpoint']}",
        markup=False,
        soft_wrap=True,
    )


def _rate(evaluation: dict[str, Any]) -> str:
    """``27.3% [22.6%, 32.6%]`` from an evaluation's row (an older run's row, without its
    interval, gets it from its counts)."""
    from turngym.algos.eval_stats import wilson_interval
    from turngym.algos.evaluate import format_rate

    rate = evaluation["success_rate"]
    interval = evaluation.get("success_ci95") or wilson_interval(
        round(rate * evaluation["episodes"]), evaluation["episodes"]
    )
    return format_rate(rate, interval)


@app.command("build-tiny")
@reports_errors
def build_tiny(
    output_dir: Annotated[Path, typer.Argument(help="folder to write")],
    env_id: Annotated[list[str] | None, typer.Option(help="envs whose text trains the BPE")] = None,
    imports: ImportOption = None,
) -> None:
    """Build the tiny offline model and tokenizer (a save_pretrained folder)."""
    from turngym.envs import check_env_id, import_env_modules

    import_env_modules(imports or [])
    for name in env_id or []:
        check_env_id(name)
    if output_dir.exists() and not output_dir.is_dir():
        _fail(f"{output_dir} is a file; give a folder to write the model into")
    from turngym.agents.tiny import build_tiny_model

    path = build_tiny_model(output_dir, env_ids=env_id or None)
    console.print(f"tiny model written to {path}", markup=False)


app.command("serve")(reports_errors(serve))  # turngym serve CHECKPOINT --port N
app.command("reward-model")(reports_errors(reward_model))  # turngym reward-model CONFIG
app.command("eval")(reports_errors(evaluate))  # turngym eval --checkpoint DIR --env ID
for _name, _command in REPORT_COMMANDS.items():  # turngym compare | view | plot
    app.command(_name)(reports_errors(_command))


if __name__ == "__main__":
    app()
