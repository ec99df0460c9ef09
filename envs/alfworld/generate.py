"""Procedurally generated ALFWorld games, in the format of the released ``game.tw-pddl`` files.

``generate_game(seed, ...)`` builds a household scene and a task and returns a dict with the
same five keys as ALFWorld's game files (``pddl_domain``, ``grammar``, ``pddl_problem``,
``solvable``, ``walkthrough``), so textworld's PDDL engine with ALFWorld's wrappers plays it as
it plays the real games::

    game = generate_game(7, task_type="pick_heat_then_place_in_recep", num_distractors=3)
    game["walkthrough"]   # ['go to cabinet 2', 'open cabinet 2', 'take mug 1 from cabinet 2', ...]

Where things come from (all shipped in the ``alfworld`` wheel):

- ``pddl_domain``: ``alfworld/data/alfred.pddl`` with the one edit the released games carry
  (a sink, not only a sink basin, may clean); ``grammar``: ``alfworld/data/alfred.twl2`` with the
  task sentence filled in and the ``help`` action in the released games' form. Both are equal,
  byte for byte, to those of the released games.
- the scene: a FloorPlan of ``alfworld/gen/layouts`` (its receptacles with their ids and
  interaction poses, plus one of each receptacle class the room lists but the pose file lacks)
  or a scene given as a dict; which objects fit which receptacles, which are openable,
  cleanable, heatable, coolable, sliceable: ``alfworld.gen.constants``.
- the goal and the task sentence: ``alfworld.gen.goal_library``, as ALFWorld wrote them.

The walkthrough is built with the scene, not planned: the engine's display names ("drawer 3")
follow ALFWorld's ``Demangler`` numbering, which ``display_names`` reproduces.

Difficulty knobs: the task type (all six ALFWorld types), the number of receptacles, the number
of distractor objects, and whether the task's object starts inside a closed receptacle.
Everything is drawn from ``random.Random(seed)``: the same arguments give the same bytes.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import TASK_TYPES

#: Bump when a change to this module changes the games it writes (it keys the env's cache).
GENERATOR_VERSION = 1
DEFAULT_NUM_DISTRACTORS = 6
#: Receptacle classes a desk lamp stands on (as in ALFWorld's look_at_obj_in_light games).
LAMP_HOSTS = ("Desk", "Dresser", "SideTable")
LAMP = "DeskLamp"
#: The receptacle class each state-change task needs, and its command verb.
APPLIANCES = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "clean", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "heat", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "cool", "Coolable"),
}
#: How many of the task's object the task needs.
TARGET_COUNT = {"pick_two_obj_and_place": 2}
AGENT_HORIZON = 30
GRID = 0.25  # metres per navigation-grid step: ALFWorld's ``loc|x|z|rotation|horizon`` units
ROOM_TYPES = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")
INSTALL_HINT = "pip install 'turngym[alfworld]'  (or: pip install alfworld)"


# -- what the alfworld wheel ships --------------------------------------------------------------
def _alfworld() -> tuple[Any, Any, Path]:
    """``(constants, goal_library, package_dir)`` of the installed alfworld wheel."""
    try:
        import alfworld
        import alfworld.gen.constants as constants
        import alfworld.gen.goal_library as goal_library
    except ImportError as error:
        raise ImportError(
            f"generating ALFWorld games needs the alfworld package ({error}); {INSTALL_HINT}"
        ) from error
    return constants, goal_library, Path(alfworld.__file__).parent


@functools.cache
def domain_text() -> str:
    """ALFWorld's PDDL domain as the released game files carry it."""
    text = (_alfworld()[2] / "data" / "alfred.pddl").read_text(encoding="utf-8")
    text = text.replace(";(receptacleType ?r SinkType)", "(receptacleType ?r SinkType)")
    return text[: -len("\n\n)\n")] + "\n)\n" if text.endswith("\n\n)\n") else text


@functools.cache
def _grammar_template() -> str:
    text = (_alfworld()[2] / "data" / "alfred.twl2").read_text(encoding="utf-8")
    match = re.search(r'feedback :: "#help\.feedback#";\s*grammar :: """(.*?)""";', text, re.S)
    if match is None:  # a wheel whose help action is already in the released form
        return text
    help_text = json.loads(match.group(1))["help.feedback"][0]["rhs"]
    return text[: match.start()] + f'feedback :: "{help_text}";' + text[match.end() :]


def grammar_text(task: str) -> str:
    """ALFWorld's text grammar with the task sentence ``task`` (no final period) filled in."""
    return _grammar_template().replace("UNKNOWN GOAL", task)


# -- scenes --------------------------------------------------------------------------------------
Location = tuple[int, int, int, int]  # x, z (grid steps), rotation (quarter turns), horizon


@dataclass(frozen=True)
class Receptacle:
    """A receptacle of the scene: its raw ALFWorld id (``Drawer|+00.95|+00.22|-02.20``)."""

    id: str
    rtype: str
    location: Location

    @property
    def openable(self) -> bool:
        return self.rtype in _alfworld()[0].OPENABLE_CLASS_SET


@dataclass(frozen=True)
class Item:
    """An object of the scene and the receptacle it starts in."""

    id: str
    otype: str
    receptacle: Receptacle


@dataclass(frozen=True)
class Scene:
    """Receptacles, the object classes the room holds, and floor points to stand on."""

    name: str
    receptacles: tuple[Receptacle, ...]
    object_classes: frozenset[str]
    points: tuple[tuple[int, int], ...]


@dataclass
class Game:
    """Everything ``generate_game`` decided; ``to_json`` writes the game file's dict."""

    seed: int
    task_type: str
    scene: Scene
    target_type: str
    parent_type: str  # the goal's receptacle class ("" for look_at_obj_in_light)
    receptacles: list[Receptacle]
    items: list[Item]
    targets: list[Item]
    destination: Receptacle | None
    appliance: Receptacle | None
    lamp: Item | None
    agent_location: Location
    task: str = ""
    names: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The dict of a ``game.tw-pddl`` file."""
        return _game_json(self)


def room_type(layout: str) -> str | None:
    """``Kitchen``, ``LivingRoom``, ``Bedroom`` or ``Bathroom`` for a FloorPlan name."""
    number = int(layout.removeprefix("FloorPlan"))
    for room, numbers in _alfworld()[0].SCENE_TYPE.items():
        if number in numbers:
            return room
    return None


@functools.cache
def list_layouts() -> tuple[str, ...]:
    """The FloorPlan names shipped in the wheel, by number."""
    folder = _alfworld()[2] / "gen" / "layouts"
    names = {path.name.split("-", 1)[0] for path in folder.glob("FloorPlan*-openable.json")}
    return tuple(sorted(names, key=lambda name: int(name.removeprefix("FloorPlan"))))


def receptacle_class(raw_id: str) -> str:
    """The class of a receptacle id (``Sink|...|SinkBasin`` is a ``SinkBasin``)."""
    parts = raw_id.split("|")
    return parts[-1] if len(parts) == 5 else parts[0]


def _static_receptacles() -> frozenset[str]:
    constants = _alfworld()[0]
    return frozenset(constants.RECEPTACLES) - frozenset(constants.MOVABLE_RECEPTACLES)


def _location(pose: Sequence[float]) -> Location:
    x, z, rotation, horizon = pose
    return (round(x / GRID), round(z / GRID), round(rotation / 90) % 4, round(horizon))


@functools.cache
def load_layout(name: str) -> Scene:
    """A wheel FloorPlan as a ``Scene``; receptacle classes without a pose get a synthetic one."""
    import numpy as np

    folder = _alfworld()[2] / "gen" / "layouts"
    if name not in list_layouts():
        raise ValueError(f"unknown layout {name!r}; choose one of {list(list_layouts())}")
    poses = json.loads((folder / f"{name}-openable.json").read_text(encoding="utf-8"))
    classes = json.loads((folder / f"{name}-objects.json").read_text(encoding="utf-8"))
    grid = np.load(folder / f"{name}-layout.npy")
    points = tuple(sorted({(round(x / GRID), round(z / GRID)) for x, z in grid.tolist()}))
    statics = _static_receptacles()
    receptacles = [
        Receptacle(raw_id, receptacle_class(raw_id), _location(pose))
        for raw_id, pose in sorted(poses.items())
        if receptacle_class(raw_id) in statics
    ]
    missing = sorted(set(classes) & statics - {r.rtype for r in receptacles})
    rng = random.Random(name)  # the synthetic receptacles are part of the layout, not the seed
    taken = {r.id for r in receptacles}
    for rtype in missing:
        location = (*rng.choice(points), rng.randrange(4), AGENT_HORIZON)
        receptacles.append(Receptacle(_new_id(rng, rtype, taken), rtype, location))
    return Scene(name, tuple(receptacles), frozenset(classes), points)


def scene_from_dict(scene: Mapping[str, Any]) -> Scene:
    """A scene given as a dict.

    ``receptacles``: a list of receptacle classes (``["Drawer", "Drawer", "Desk"]``) or a mapping
    from ALFWorld ids to interaction poses ``[x, z, rotation_degrees, horizon]``, as in the
    layouts' ``-openable.json`` files. ``objects`` (optional): the object classes that may
    appear (default: every class some receptacle of the scene can hold). ``name`` (optional).
    """
    statics = _static_receptacles()
    spec = scene.get("receptacles")
    if not spec:
        raise ValueError("a scene dict needs a non-empty 'receptacles' list or mapping")
    side = max(4, int(len(spec) ** 0.5) + 3)
    points = tuple((x, z) for x in range(side) for z in range(side))
    rng = random.Random(json.dumps(scene, sort_keys=True, default=str))
    receptacles: list[Receptacle] = []
    taken: set[str] = set()
    if isinstance(spec, Mapping):
        for raw_id, pose in sorted(spec.items()):
            receptacles.append(Receptacle(raw_id, receptacle_class(raw_id), _location(pose)))
            taken.add(raw_id)
    else:
        for index, rtype in enumerate(spec):
            location = (*points[index % len(points)], rng.randrange(4), AGENT_HORIZON)
            receptacles.append(Receptacle(_new_id(rng, rtype, taken), rtype, location))
    unknown = sorted({r.rtype for r in receptacles} - statics)
    if unknown:
        raise ValueError(f"unknown receptacle classes {unknown}; choose from {sorted(statics)}")
    classes = scene.get("objects")
    if classes is None:
        classes = _placeable() | {LAMP}
    return Scene(
        str(scene.get("name", "custom")),
        tuple(receptacles),
        frozenset(classes) | {r.rtype for r in receptacles},
        points,
    )


def _new_id(rng: random.Random, otype: str, taken: set[str]) -> str:
    """A fresh ALFWorld-style id ``Class|+x.xx|+y.yy|+z.zz`` (basins: ``Sink|...|SinkBasin``)."""
    while True:
        x, y, z = (rng.uniform(-4.0, 4.0) for _ in range(3))
        coordinates = f"{x:+06.2f}|{abs(y):+06.2f}|{z:+06.2f}"
        if otype in ("SinkBasin", "BathtubBasin"):
            raw_id = f"{otype.removesuffix('Basin')}|{coordinates}|{otype}"
        else:
            raw_id = f"{otype}|{coordinates}"
        if raw_id not in taken:
            taken.add(raw_id)
            return raw_id


# -- what fits where ------------------------------------------------------------------------------
@functools.cache
def _placeable() -> frozenset[str]:
    """Object classes that can be taken and put somewhere (sliced forms left out)."""
    constants = _alfworld()[0]
    classes = set().union(*constants.VAL_RECEPTACLE_OBJECTS.values())
    return frozenset(c for c in classes if "Sliced" not in c) - _static_receptacles()


def can_contain(rtype: str, otype: str) -> bool:
    """Whether ALFWorld lets an object of class ``otype`` be in a receptacle of class ``rtype``."""
    return otype in _alfworld()[0].VAL_RECEPTACLE_OBJECTS.get(rtype, ())


def _has_property(otype: str, prop: str) -> bool:
    return otype in _alfworld()[0].VAL_ACTION_OBJECTS[prop]


def _sources(
    scene: Scene, otype: str, avoid_type: str, target_in_closed: bool | None
) -> list[Receptacle]:
    """Receptacles the task's object may start in."""
    return [
        r
        for r in scene.receptacles
        if r.rtype != avoid_type
        and can_contain(r.rtype, otype)
        and (target_in_closed is None or r.openable == target_in_closed)
    ]


def _task_options(
    scene: Scene, task_type: str, target_in_closed: bool | None
) -> list[tuple[str, str]]:
    """Feasible ``(object class, goal receptacle class)`` pairs of a task type in a scene."""
    rtypes = sorted({r.rtype for r in scene.receptacles})
    objects = sorted(scene.object_classes & _placeable())
    if task_type == "look_at_obj_in_light":
        if LAMP not in scene.object_classes:
            return []
        hosts = [t for t in rtypes if t in LAMP_HOSTS]
        return [(o, h) for h in hosts for o in objects if _sources(scene, o, "", target_in_closed)]
    appliance, _, prop = APPLIANCES.get(task_type, ("", "", ""))
    if appliance and appliance not in rtypes:
        return []
    return [
        (o, d)
        for d in rtypes
        for o in objects
        if d != appliance
        and can_contain(d, o)
        and (not prop or _has_property(o, prop))
        and _sources(scene, o, d, target_in_closed)
    ]


def _candidate_scenes(task_type: str, num_receptacles: int | None) -> list[str]:
    goals_valid = _alfworld()[0].GOALS_VALID[task_type]
    return [
        name
        for name in list_layouts()
        if room_type(name) in goals_valid
        and (num_receptacles is None or len(load_layout(name).receptacles) >= num_receptacles)
    ]


# -- building a game ------------------------------------------------------------------------------
def check_knobs(
    task_type: str,
    num_receptacles: int | None,
    num_distractors: int,
    target_in_closed: bool | None,
) -> None:
    """Reject knob values no scene can meet, naming the knob."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown ALFWorld task type {task_type!r}; choose from {TASK_TYPES}")
    if num_receptacles is not None and (
        isinstance(num_receptacles, bool) or not isinstance(num_receptacles, int)
    ):
        raise ValueError(f"num_receptacles must be an int or None, got {num_receptacles!r}")
    if num_receptacles is not None and num_receptacles < _min_receptacles(task_type):
        raise ValueError(
            f"num_receptacles={num_receptacles} is too few for {task_type}: "
            f"it needs at least {_min_receptacles(task_type)}"
        )
    if isinstance(num_distractors, bool) or not isinstance(num_distractors, int):
        raise ValueError(f"num_distractors must be an int >= 0, got {num_distractors!r}")
    if num_distractors < 0:
        raise ValueError(f"num_distractors must be >= 0, got {num_distractors}")
    if target_in_closed not in (None, True, False):
        raise ValueError(f"target_in_closed must be True, False or None, got {target_in_closed!r}")


def _min_receptacles(task_type: str) -> int:
    """Goal receptacle + source (+ appliance; look_at: lamp host + source)."""
    return 3 if task_type in APPLIANCES else 2


def generate_game(
    seed: int,
    task_type: str = "pick_and_place_simple",
    num_receptacles: int | None = None,
    num_distractors: int = DEFAULT_NUM_DISTRACTORS,
    target_in_closed: bool | None = None,
    layout: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A new ALFWorld game as the dict of a ``game.tw-pddl`` file (see the module docstring).

    Args:
        seed: everything random is drawn from ``random.Random(seed)``.
        task_type: one of ALFWorld's six task types.
        num_receptacles: how many receptacles the room has (``None``: all of the layout's).
        num_distractors: how many objects other than the task's own (and the lamp) to place.
        target_in_closed: the task's object starts inside a closed receptacle (``True``), on an
            open one (``False``), or either (``None``).
        layout: a FloorPlan name of ``alfworld/gen/layouts`` (``"FloorPlan301"``), a scene dict
            (see ``scene_from_dict``), or ``None`` for a FloorPlan drawn by the seed among
            those of the task's room types.
    """
    return build_game(
        seed, task_type, num_receptacles, num_distractors, target_in_closed, layout
    ).to_json()


def build_game(
    seed: int,
    task_type: str = "pick_and_place_simple",
    num_receptacles: int | None = None,
    num_distractors: int = DEFAULT_NUM_DISTRACTORS,
    target_in_closed: bool | None = None,
    layout: str | Mapping[str, Any] | None = None,
) -> Game:
    """Like ``generate_game`` but returns the ``Game`` (scene, targets, names) it decided."""
    check_knobs(task_type, num_receptacles, num_distractors, target_in_closed)
    rng = random.Random(int(seed))
    if layout is None:
        names = _candidate_scenes(task_type, num_receptacles)
        scenes: Iterable[Scene] = (load_layout(n) for n in rng.sample(names, len(names)))
    elif isinstance(layout, str):
        scenes = [load_layout(layout)]
    else:
        scenes = [scene_from_dict(layout)]
    for scene in scenes:
        if num_receptacles is not None and len(scene.receptacles) < num_receptacles:
            continue
        options = _task_options(scene, task_type, target_in_closed)
        if options:
            target_type, parent_type = rng.choice(options)
            knobs = (num_receptacles, num_distractors, target_in_closed)
            game = _populate(rng, int(seed), scene, task_type, target_type, parent_type, *knobs)
            return _finish(rng, game)
    where = f"layout {layout!r}" if isinstance(layout, str) else "any scene"
    raise ValueError(
        f"{where} cannot hold a {task_type} task with num_receptacles={num_receptacles}, "
        f"target_in_closed={target_in_closed}"
    )


def _populate(
    rng: random.Random,
    seed: int,
    scene: Scene,
    task_type: str,
    target_type: str,
    parent_type: str,
    num_receptacles: int | None,
    num_distractors: int,
    target_in_closed: bool | None,
) -> Game:
    """Pick the receptacles, then place the task's objects, the lamp and the distractors."""
    look = task_type == "look_at_obj_in_light"
    avoid = "" if look else parent_type
    candidates = _sources(scene, target_type, avoid, target_in_closed)
    sources = [rng.choice(candidates) for _ in range(TARGET_COUNT.get(task_type, 1))]
    goal_receptacle = rng.choice([r for r in scene.receptacles if r.rtype == parent_type])
    appliance = None
    if task_type in APPLIANCES:
        kind = APPLIANCES[task_type][0]
        appliance = rng.choice([r for r in scene.receptacles if r.rtype == kind])
    extras = [goal_receptacle, *([appliance] if appliance else [])]
    required = list(dict.fromkeys([*sources, *extras]))
    if num_receptacles is not None and len(required) > num_receptacles:
        sources = [sources[0]] * len(sources)  # a small room: both objects start together
        required = list(dict.fromkeys([*sources, *extras]))
    receptacles = _choose_receptacles(rng, scene, required, num_receptacles)
    taken = {r.id for r in scene.receptacles}
    targets = [Item(_new_id(rng, target_type, taken), target_type, s) for s in sources]
    lamp = Item(_new_id(rng, LAMP, taken), LAMP, goal_receptacle) if look else None
    avoid_types = {target_type, LAMP}
    distractors = _distractors(rng, scene, receptacles, avoid_types, num_distractors, taken)
    items = targets + ([lamp] if lamp else []) + distractors
    start = _agent_start(rng, scene, receptacles)
    return Game(
        seed=seed,
        task_type=task_type,
        scene=scene,
        target_type=target_type,
        parent_type=parent_type,
        receptacles=receptacles,
        items=items,
        targets=targets,
        destination=None if look else goal_receptacle,
        appliance=appliance,
        lamp=lamp,
        agent_location=start,
    )


def _choose_receptacles(
    rng: random.Random, scene: Scene, required: list[Receptacle], count: int | None
) -> list[Receptacle]:
    """The required receptacles plus others drawn from the scene, in the scene's order."""
    if count is None:
        return list(scene.receptacles)
    others = [r for r in scene.receptacles if r not in required]
    chosen = set(required) | set(rng.sample(others, count - len(required)))
    return [r for r in scene.receptacles if r in chosen]


def _distractors(
    rng: random.Random,
    scene: Scene,
    receptacles: list[Receptacle],
    avoid_types: set[str],
    count: int,
    taken: set[str],
) -> list[Item]:
    """``count`` objects of the room's other classes, each in a receptacle that can hold it."""

    def hosts(otype: str) -> list[Receptacle]:
        return [r for r in receptacles if can_contain(r.rtype, otype)]

    pool = sorted(c for c in scene.object_classes & _placeable() - avoid_types if hosts(c))
    if not pool:  # a sparse room: any class the chosen receptacles can hold
        pool = sorted(c for c in _placeable() - avoid_types if hosts(c))
    if count and not pool:
        raise ValueError("no object class fits the chosen receptacles; use num_distractors=0")
    items = []
    for _ in range(count):
        otype = rng.choice(pool)
        items.append(Item(_new_id(rng, otype, taken), otype, rng.choice(hosts(otype))))
    return items


def _agent_start(rng: random.Random, scene: Scene, receptacles: list[Receptacle]) -> Location:
    """A floor point, facing a random way, that is no receptacle's location."""
    used = {r.location for r in receptacles}
    while True:
        location = (*rng.choice(scene.points), rng.randrange(4), AGENT_HORIZON)
        if location not in used:
            return location


def _finish(rng: random.Random, game: Game) -> Game:
    """Fill in the task sentence and the engine's display names."""
    goal_library = _alfworld()[1]
    template = rng.choice(goal_library.gdict[game.task_type]["templates"])
    game.task = template.format(
        obj=game.target_type.lower(), recep=game.parent_type.lower(), toggle=LAMP.lower()
    )
    game.names = display_names([r.id for r in game.receptacles] + [i.id for i in game.items])
    return game


# -- names, ids, PDDL ----------------------------------------------------------------------------
def mangle(raw_id: str) -> str:
    """ALFWorld's PDDL spelling of an id (``Drawer|+00.95`` -> ``Drawer_bar__plus_00_dot_95``)."""
    table = {"-": "_minus_", "|": "_bar_", "+": "_plus_", ".": "_dot_", ",": "_comma_"}
    return "".join(table.get(char, char) for char in raw_id)


def display_names(raw_ids: Iterable[str]) -> dict[str, str]:
    """What ALFWorld's ``Demangler`` calls each id (``drawer 3``), as the engine shows it.

    Ids of one class are numbered by their sorted lower-case PDDL spelling, the first one
    getting the highest number.
    """
    keys = {raw_id: mangle(raw_id).lower() for raw_id in raw_ids}

    def class_name(key: str) -> str:
        name = key.split("_bar_", 1)[0]
        return name + "basin" if "basin" in key else name

    counts = Counter(class_name(key) for key in keys.values())
    names = {}
    for raw_id, key in sorted(keys.items(), key=lambda pair: pair[1]):
        name = class_name(key)
        names[raw_id] = f"{name} {counts[name]}"
        counts[name] -= 1
    return names


def _loc_id(location: Location) -> str:
    return mangle("loc|{}|{}|{}|{}".format(*location))


def walkthrough(game: Game) -> list[str]:
    """The expert's commands, built from the scene (every game is won by them)."""
    commands: list[str] = []
    at: list[Location] = [game.agent_location]
    opened: set[Receptacle] = set()
    name = game.names

    def reach(receptacle: Receptacle) -> None:
        if at[0] != receptacle.location:
            commands.append(f"go to {name[receptacle.id]}")
            at[0] = receptacle.location
        if receptacle.openable and receptacle not in opened:
            commands.append(f"open {name[receptacle.id]}")
            opened.add(receptacle)

    for target in game.targets:
        reach(target.receptacle)
        commands.append(f"take {name[target.id]} from {name[target.receptacle.id]}")
        if game.appliance is not None:
            if at[0] != game.appliance.location:
                commands.append(f"go to {name[game.appliance.id]}")
                at[0] = game.appliance.location
            verb = APPLIANCES[game.task_type][1]
            commands.append(f"{verb} {name[target.id]} with {name[game.appliance.id]}")
        if game.lamp is not None:
            host = game.lamp.receptacle
            if at[0] != host.location:
                commands.append(f"go to {name[host.id]}")
                at[0] = host.location
            commands.append(f"use {name[game.lamp.id]}")
        if game.destination is not None:
            reach(game.destination)
            commands.append(f"move {name[target.id]} to {name[game.destination.id]}")
    return commands


def problem_text(game: Game) -> str:
    """The game's PDDL problem, laid out as in the released game files."""
    constants, goal_library, _ = _alfworld()
    statics = _static_receptacles()
    all_objects = sorted(constants.OBJECTS_SET - statics)
    indent = "\n        "
    declarations = [
        f"{indent.join(f'{o} - object' for o in all_objects)}",
        f"{indent.join(f'{o}Type - otype' for o in all_objects)}",
        f"{indent.join(f'{r}Type - rtype' for r in sorted(statics))}",
    ]
    locations = sorted({_loc_id(r.location) for r in game.receptacles})
    locations += [] if _loc_id(game.agent_location) in locations else [_loc_id(game.agent_location)]
    entities = (
        [f"{mangle(i.id)} - object" for i in sorted(game.items, key=lambda i: i.id)]
        + [f"{mangle(r.id)} - receptacle" for r in sorted(game.receptacles, key=lambda r: r.id)]
        + [f"{loc} - location" for loc in locations]
    )
    goal = goal_library.gdict[game.task_type]["pddl"].format(
        obj=game.target_type, recep=game.parent_type, toggle=LAMP
    )
    return (
        f"\n(define (problem plan_turngym_gen_{game.seed})\n(:domain alfred)\n(:objects\n"
        f"agent1 - agent\n{chr(10).join(declarations)}\n\n"
        f"{indent}{indent.join(entities)}\n        )\n    \n\n(:init\n\n"
        f"{indent}{indent.join(_facts(game))}\n        )\n    \n{goal.replace('#', '-')}"
    )


def _facts(game: Game) -> list[str]:
    """The initial facts: types, what fits where, properties, places."""
    receptacles = sorted(game.receptacles, key=lambda r: r.id)
    items = sorted(game.items, key=lambda i: i.id)
    movable = set(_alfworld()[0].MOVABLE_RECEPTACLES)
    rtypes = sorted({r.rtype for r in receptacles})
    otypes = sorted({i.otype for i in items})
    takeable = [i for i in items if i.otype != LAMP]
    facts = [f"(receptacleType {mangle(r.id)} {r.rtype}Type)" for r in receptacles]
    facts += [f"(objectType {mangle(i.id)} {i.otype}Type)" for i in items]
    facts += [
        f"(canContain {rt}Type {ot}Type)" for rt in rtypes for ot in otypes if can_contain(rt, ot)
    ]
    facts += [f"(pickupable {mangle(i.id)})" for i in takeable]
    facts += [f"(isReceptacleObject {mangle(i.id)})" for i in takeable if i.otype in movable]
    facts += [f"(openable {mangle(r.id)})" for r in receptacles if r.openable]
    facts.append(f"(atLocation agent1 {_loc_id(game.agent_location)})")
    for predicate, prop in (
        ("cleanable", "Cleanable"),
        ("heatable", "Heatable"),
        ("coolable", "Coolable"),
        ("sliceable", "Sliceable"),
    ):
        facts += [f"({predicate} {mangle(i.id)})" for i in takeable if _has_property(i.otype, prop)]
    facts += [f"(toggleable {mangle(i.id)})" for i in items if i.otype == LAMP]
    facts += [f"(inReceptacle {mangle(i.id)} {mangle(i.receptacle.id)})" for i in items]
    facts += [f"(receptacleAtLocation {mangle(r.id)} {_loc_id(r.location)})" for r in receptacles]
    facts += [f"(objectAtLocation {mangle(i.id)} {_loc_id(i.receptacle.location)})" for i in items]
    return facts


def _game_json(game: Game) -> dict[str, Any]:
    return {
        "pddl_domain": domain_text(),
        "grammar": grammar_text(game.task),
        "pddl_problem": problem_text(game),
        "solvable": True,
        "walkthrough": walkthrough(game),
    }
