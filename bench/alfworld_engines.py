"""ALFWorld engines side by side: the native engine against the textworld reference.

(a) Differential check: every game of each ``--split`` (or ``--games N`` of them, evenly spaced,
so every task type is sampled) is played on both engines: the walkthrough, then ``--episodes``
seeded random episodes of ``--steps`` steps (mostly admissible commands, about 1 in 8
inadmissible: made-up text, a command with extra white space, a command admissible earlier).
Every step compares observation, admissible commands (order included), reward, done, won and
state_key; mismatches are printed and counted by field.

(b) Speed: load+reset time (a fresh engine per game) and steps/s of a random admissible policy,
both engines on the same games, with the ratio native/reference.

    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py              # full: ~20-30 min
    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py --games 10   # quick look
    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py --skip-check --speed-games 20
    # a few hundred train games, in two processes
    for k in 0 1; do .venv/bin/python bench/alfworld_engines.py --split train --games 300 \
        --shard $k/2 --speed-games 0 & done; wait

Games come from ``--data-dir`` or, by default, the copy the tests unpack from
``../shared/data/alfworld/`` (``$TURNGYM_CACHE/alfworld``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import tarfile
import time
from collections import Counter
from pathlib import Path

from turngym.envs.alfworld.data import list_games
from turngym.envs.alfworld.native_engine import NativeEngine
from turngym.envs.alfworld.textworld_engine import TextWorldEngine

REPO_ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("observation", "admissible_commands", "reward", "done", "won", "state_key")


def _test_helpers():
    path = REPO_ROOT / "tests" / "envs" / "test_alfworld.py"
    spec = importlib.util.spec_from_file_location("_test_alfworld_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def split_dir(name: str, data_dir: str | None) -> Path:
    """``json_2.1.1/<name>`` under ``--data-dir``, else unpacked once from the shared archive."""
    if data_dir:
        return Path(data_dir) / "json_2.1.1" / name
    helpers = _test_helpers()
    if not helpers.ARCHIVE.is_file():
        raise SystemExit(f"no ALFWorld games: {helpers.ARCHIVE} is absent; pass --data-dir")
    if name == "valid_seen":
        return helpers._unpack_split() / "json_2.1.1" / "valid_seen"
    target = helpers._cache_root() / "alfworld" / "json_2.1.1-all"
    marker = target / f".{name}-complete"
    if not marker.exists():
        with tarfile.open(helpers.ARCHIVE) as archive:
            members = [m for m in archive if m.name.startswith(f"json_2.1.1/{name}/")]
            archive.extractall(target, members=members, filter="data")
        marker.touch()
    return target / "json_2.1.1" / name


def spread(games: list[Path], count: int | None) -> list[Path]:
    """``count`` games evenly spaced over the (sorted) split, so every task type is sampled."""
    if not count or count >= len(games):
        return games
    return [games[i * len(games) // count] for i in range(count)]


def differences(reference, native) -> list[str]:
    return [f for f in FIELDS if getattr(reference, f) != getattr(native, f)]


def inadmissible(rng: random.Random, state, history: list[str]) -> str:
    choices = [
        "xyzzy",
        "go to the moon",
        "take everything",
        " " + state.admissible_commands[0] + " ",
    ]
    stale = [c for c in history if c not in state.admissible_commands]
    if stale:
        choices.append(rng.choice(stale))
    return rng.choice(choices)


def play(game: Path, episodes: int, steps: int, seed: int, report) -> tuple[int, Counter]:
    """Play ``game`` on both engines; returns (steps compared, mismatching fields)."""
    reference, native = TextWorldEngine(), NativeEngine()
    reference.load(game)
    native.load(game)
    counts: Counter = Counter()
    compared = 0

    def check(label: str, a, b) -> bool:
        nonlocal compared
        compared += 1
        bad = differences(a, b)
        for name in bad:
            counts[name] += 1
        if bad:
            report(game, label, bad, a, b)
        return not bad

    walkthrough = json.loads(game.read_text())["walkthrough"]
    a, b = reference.reset(), native.reset()
    check("reset", a, b)
    for command in walkthrough:
        a, b = reference.step(command), native.step(command)
        check(f"walkthrough {command!r}", a, b)
    for episode in range(episodes):
        rng = random.Random(f"{seed}:{game.parent.name}:{episode}")
        a, b = reference.reset(), native.reset()
        history: list[str] = []
        check(f"episode {episode} reset", a, b)
        for step in range(steps):
            if rng.random() < 0.125:
                command = inadmissible(rng, a, history)
            else:
                command = rng.choice(a.admissible_commands)
            history.append(command)
            a, b = reference.step(command), native.step(command)
            if not check(f"episode {episode} step {step} {command!r}", a, b):
                break  # the states may have diverged; the rest would repeat the same mismatch
    reference.close()
    native.close()
    return compared, counts


def print_mismatch(game: Path, label: str, fields: list[str], a, b, limit=[20]) -> None:  # noqa: B006
    if limit[0] <= 0:
        return
    limit[0] -= 1
    print(f"MISMATCH {game.parent.parent.name}/{game.parent.name} at {label}: {fields}")
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        if name == "admissible_commands":
            only_ref, only_native = sorted(set(x) - set(y)), sorted(set(y) - set(x))
            print(f"  reference only: {only_ref}; native only: {only_native}")
            if set(x) == set(y):
                print("  (same commands, different order)")
        else:
            print(f"  reference: {x!r}\n  native:    {y!r}")


def check_split(games: list[Path], label: str, episodes: int, steps: int, seed: int) -> bool:
    total_steps, total = 0, Counter()
    failed_games = 0
    start = time.perf_counter()
    for index, game in enumerate(games):
        compared, counts = play(game, episodes, steps, seed, print_mismatch)
        total_steps += compared
        total.update(counts)
        failed_games += bool(counts)
        if (index + 1) % 10 == 0:
            print(
                f"  ... {index + 1}/{len(games)} games, {total_steps} steps, "
                f"{failed_games} with mismatches, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    print(
        f"{label}: {len(games)} games, {total_steps} compared steps, "
        f"{failed_games} games with mismatches; mismatching fields: {dict(total) or 'none'}"
    )
    return not total


def speed(folder: Path, count: int, steps: int, seed: int) -> None:
    games = spread([folder / g for g in list_games(folder)], count)
    print(f"speed: {len(games)} games, {steps} random admissible steps each")
    rows = []
    for engine_class in (TextWorldEngine, NativeEngine):
        load_time, step_time, stepped = 0.0, 0.0, 0
        for game in games:
            engine = engine_class()
            start = time.perf_counter()
            engine.load(game)
            state = engine.reset()
            load_time += time.perf_counter() - start
            rng = random.Random(f"{seed}:{game.parent.name}")
            start = time.perf_counter()
            for _ in range(steps):
                state = engine.step(rng.choice(state.admissible_commands))
                stepped += 1
            step_time += time.perf_counter() - start
            engine.close()
        rows.append((engine_class.name, 1000 * load_time / len(games), stepped / step_time))
    (_, ref_ms, ref_sps), (_, nat_ms, nat_sps) = rows
    print(f"{'engine':<10} {'load+reset ms':>14} {'steps/s':>10}")
    for name, ms, sps in rows:
        print(f"{name:<10} {ms:>14.1f} {sps:>10.1f}")
    print(
        f"{'ratio':<10} {nat_ms / ref_ms:>14.4f} {nat_sps / ref_sps:>10.1f}   (native / reference)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", help="a folder holding json_2.1.1/<split>/")
    parser.add_argument(
        "--split",
        action="append",
        choices=["valid_seen", "valid_train", "train"],
        help="splits to check (repeatable; default valid_seen)",
    )
    parser.add_argument("--games", type=int, help="check N evenly spaced games of each split")
    parser.add_argument("--shard", default="0/1", help="K/N: check every N-th game from the K-th")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--speed-games", type=int, default=10)
    parser.add_argument("--speed-steps", type=int, default=50)
    args = parser.parse_args()
    shard, shards = (int(x) for x in args.shard.split("/"))

    ok = True
    for name in [] if args.skip_check else args.split or ["valid_seen"]:
        folder = split_dir(name, args.data_dir)
        games = spread([folder / g for g in list_games(folder)], args.games)[shard::shards]
        label = f"{name} (shard {args.shard})" if shards > 1 else name
        ok &= check_split(games, label, args.episodes, args.steps, args.seed)
    if args.speed_games:
        speed(split_dir("valid_seen", args.data_dir), args.speed_games, args.speed_steps, args.seed)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
