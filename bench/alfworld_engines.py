"""ALFWorld engines side by side: the native engine against the textworld reference.

(a) Differential check: every game of ``valid_seen`` (and, with ``--train N``, the first N train
games) is played on both engines: the walkthrough, then ``--episodes`` seeded random episodes of
``--steps`` steps (mostly admissible commands, about 1 in 8 inadmissible: made-up text, a
command with extra white space, a command admissible earlier). Every step compares observation,
admissible commands (order included), reward, done, won and state_key; mismatches are printed
and counted by field.

(b) Speed: load+reset time (a fresh engine per game) and steps/s of a random admissible policy,
both engines on the same games, with the ratio native/reference.

    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py              # full: ~20-30 min
    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py --games 10   # quick look
    OMP_NUM_THREADS=1 .venv/bin/python bench/alfworld_engines.py --skip-check --speed-games 20

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


def valid_seen_dir(data_dir: str | None) -> Path:
    if data_dir:
        return Path(data_dir) / "json_2.1.1" / "valid_seen"
    helpers = _test_helpers()
    if not helpers.ARCHIVE.is_file():
        raise SystemExit(f"no ALFWorld games: {helpers.ARCHIVE} is absent; pass --data-dir")
    return helpers._unpack_split() / "json_2.1.1" / "valid_seen"


def train_dir(count: int) -> Path:
    """The first ``count`` train task folders (archive order), unpacked once into the cache."""
    helpers = _test_helpers()
    target = helpers._cache_root() / "alfworld" / f"train-first-{count}"
    marker = target / ".complete"
    split = target / "json_2.1.1" / "train"
    if marker.exists():
        return split
    folders: list[str] = []
    with tarfile.open(helpers.ARCHIVE) as archive:
        for member in archive:
            parts = member.name.split("/")
            if len(parts) < 4 or parts[1] != "train":
                continue
            if parts[2] not in folders:
                if len(folders) >= count:
                    break
                folders.append(parts[2])
            archive.extract(member, target, filter="data")
    marker.touch()
    return split


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


def check_split(split_dir: Path, limit: int | None, episodes: int, steps: int, seed: int) -> bool:
    games = [split_dir / g for g in list_games(split_dir)]
    if limit:
        games = games[:limit]
    total_steps, total = 0, Counter()
    failed_games = 0
    start = time.perf_counter()
    for index, game in enumerate(games):
        compared, counts = play(game, episodes, steps, seed, print_mismatch)
        total_steps += compared
        total.update(counts)
        failed_games += bool(counts)
        if (index + 1) % 10 == 0:
            print(f"  ... {index + 1}/{len(games)} games, {time.perf_counter() - start:.0f} s")
    print(
        f"{split_dir.name}: {len(games)} games, {total_steps} compared steps, "
        f"{failed_games} games with mismatches; mismatching fields: {dict(total) or 'none'}"
    )
    return not total


def speed(split_dir: Path, count: int, steps: int, seed: int) -> None:
    games = [split_dir / g for g in list_games(split_dir)][:: max(1, 140 // max(count, 1))][:count]
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
    parser.add_argument("--data-dir", help="a folder holding json_2.1.1/valid_seen")
    parser.add_argument(
        "--games", type=int, default=None, help="check only the first N valid_seen games"
    )
    parser.add_argument("--train", type=int, default=0, help="also check the first N train games")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--speed-games", type=int, default=10)
    parser.add_argument("--speed-steps", type=int, default=50)
    args = parser.parse_args()

    split = valid_seen_dir(args.data_dir)
    ok = True
    if not args.skip_check:
        ok = check_split(split, args.games, args.episodes, args.steps, args.seed)
        if args.train:
            ok &= check_split(train_dir(args.train), None, args.episodes, args.steps, args.seed)
    if args.speed_games:
        speed(split, args.speed_games, args.speed_steps, args.seed)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
