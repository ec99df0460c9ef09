"""``turngym/Household-v0``: a small ALFWorld-style pick-and-place task.

A procedurally generated room holds 3-5 numbered receptacles; some are containers that start
closed. The task names one object and where it must go. The agent walks between receptacles,
opens containers, picks the object up and moves it to the goal::

    Your task is to: put the apple 1 in the drawer 2.
    > go to cabinet 1       You arrive at cabinet 1. The cabinet 1 is closed.
    > open cabinet 1        You open the cabinet 1. The cabinet 1 is open. In it, you see a apple 1.
    > take apple 1 from cabinet 1
    > go to drawer 2
    > move apple 1 to drawer 2     (reward 1, terminated)

Commands and feedback follow ALFWorld 0.4's wording ("move X to Y"; the older "put X in/on Y"
is accepted as an alias). The task id seeds the layout, so every rollout of a group that resets
with the same ``task_id`` starts from the same state. Episodes are capped at 15 steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core import NOTHING_HAPPENS, TextEnv, normalize_command, put_alias

#: (receptacle kind, is it a closable container)
RECEPTACLE_KINDS = (
    ("cabinet", True),
    ("drawer", True),
    ("fridge", True),
    ("microwave", True),
    ("safe", True),
    ("countertop", False),
    ("shelf", False),
    ("sidetable", False),
    ("diningtable", False),
    ("desk", False),
)
OBJECT_KINDS = (
    "apple", "mug", "book", "keychain", "pen", "plate", "bowl", "cellphone", "tomato", "vase",
)  # fmt: skip


@dataclass
class Room:
    """One task's state: where things are and what the agent holds."""

    receptacles: list[str]
    containers: set[str]
    target_object: str
    goal: str
    location: str | None = None
    holding: str | None = None
    opened: set[str] = field(default_factory=set)
    contents: dict[str, list[str]] = field(default_factory=dict)

    def preposition(self, receptacle: str) -> str:
        return "in" if receptacle in self.containers else "on"

    def is_reachable(self, receptacle: str) -> bool:
        return receptacle not in self.containers or receptacle in self.opened

    def describe(self, receptacle: str) -> str:
        if not self.is_reachable(receptacle):
            return f"The {receptacle} is closed."
        seen = _listing(self.contents[receptacle])
        if receptacle in self.containers:
            return f"The {receptacle} is open. In it, you see {seen}."
        return f"On the {receptacle}, you see {seen}."

    def won(self) -> bool:
        return self.target_object in self.contents[self.goal]


def _listing(items: list[str]) -> str:
    if not items:
        return "nothing"
    named = [f"a {item}" for item in items]
    if len(named) == 1:
        return named[0]
    return ", ".join(named[:-1]) + f", and {named[-1]}"


def generate_room(
    task_id: int, min_receptacles: int, max_receptacles: int, num_distractors: int
) -> Room:
    """Deterministically build the room of ``task_id``."""
    rng = np.random.default_rng([task_id, 0x7475726E])
    count = int(rng.integers(min_receptacles, max_receptacles + 1))
    kinds = rng.choice(len(RECEPTACLE_KINDS), size=count, replace=True)
    numbering: dict[str, int] = {}
    receptacles, containers = [], set()
    for index in sorted(kinds.tolist()):
        kind, closable = RECEPTACLE_KINDS[index]
        numbering[kind] = numbering.get(kind, 0) + 1
        name = f"{kind} {numbering[kind]}"
        receptacles.append(name)
        if closable:
            containers.add(name)
    picks = rng.choice(len(OBJECT_KINDS), size=1 + num_distractors, replace=False)
    objects = [f"{OBJECT_KINDS[i]} 1" for i in picks.tolist()]
    contents: dict[str, list[str]] = {r: [] for r in receptacles}
    for obj in objects:
        contents[receptacles[int(rng.integers(count))]].append(obj)
    start = next(r for r in receptacles if objects[0] in contents[r])
    goal = receptacles[int(rng.choice([i for i, r in enumerate(receptacles) if r != start]))]
    return Room(receptacles, containers, objects[0], goal, contents=contents)


class HouseholdEnv(TextEnv):
    """ALFWorld-style pick-and-place in a generated room (see the module docstring).

    Args:
        min_receptacles, max_receptacles: room size range (at least 2).
        num_distractors: other objects in the room that the task does not ask for.
        render_mode: ``"ansi"`` or ``"human"``.

    :meth:`expert_action` gives the next action of a shortest plan (for imitation and pairs).
    """

    def __init__(
        self,
        min_receptacles: int = 3,
        max_receptacles: int = 5,
        num_distractors: int = 0,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        if not 2 <= min_receptacles <= max_receptacles:
            raise ValueError(
                f"need 2 <= min_receptacles <= max_receptacles, "
                f"got {min_receptacles} and {max_receptacles}"
            )
        if not 0 <= num_distractors < len(OBJECT_KINDS):
            raise ValueError(f"num_distractors must be in [0, {len(OBJECT_KINDS) - 1}]")
        self.room_size = (min_receptacles, max_receptacles)
        self.num_distractors = num_distractors
        self.room: Room | None = None

    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.room = generate_room(task_id, *self.room_size, self.num_distractors)
        room = self.room
        observation = (
            "-= Welcome to TurnGym Household! =-\n\n"
            "You are in the middle of a room. Looking quickly around you, you see "
            f"{_listing(room.receptacles)}.\n\nYour task is to: {self.task_text()}"
        )
        return observation, {"task_type": "pick_and_place_simple", **self.state_info()}

    def task_text(self) -> str:
        room = self.room
        return f"put the {room.target_object} {room.preposition(room.goal)} the {room.goal}."

    def admissible_actions(self) -> list[str]:
        room = self.room
        actions = [f"go to {r}" for r in room.receptacles if r != room.location]
        here = room.location
        if here is not None:
            if here in room.containers:
                actions.append(f"close {here}" if here in room.opened else f"open {here}")
            if room.is_reachable(here):
                if room.holding is None:
                    actions += [f"take {obj} from {here}" for obj in room.contents[here]]
                else:
                    actions.append(f"move {room.holding} to {here}")
        return sorted(actions)

    def expert_action(self) -> str:
        """The next action of a shortest plan from the current state.

        Go to the object's receptacle, open it if closed, put down anything else held there,
        take the object, go to the goal, open it if closed, move the object there.
        """
        room = self.room
        if room is None or room.won():
            raise RuntimeError("expert_action needs a reset episode whose task is not done")
        obj = room.target_object
        if room.holding == obj:
            target = room.goal
        else:
            target = next(r for r in room.receptacles if obj in room.contents[r])
        if room.location != target:
            return f"go to {target}"
        if not room.is_reachable(target):
            return f"open {target}"
        if room.holding is not None:  # the object itself at the goal, or a distractor to drop
            return f"move {room.holding} to {target}"
        return f"take {obj} from {target}"

    def state_key(self) -> str:
        room = self.room
        where = ";".join(f"{r}:{','.join(room.contents[r])}" for r in room.receptacles)
        opened = ",".join(sorted(room.opened))
        return f"{self.task_id}|at={room.location}|hold={room.holding}|open={opened}|{where}"

    def state_info(self) -> dict[str, Any]:
        if self.room is None:
            return {}
        return {
            "task": self.task_text(),
            "admissible_actions": self.admissible_actions(),
            "state_key": self.state_key(),
            "won": self.room.won(),
        }

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        command = normalize_command(action)
        command = put_alias(command) or command
        if command not in self.admissible_actions():
            return NOTHING_HAPPENS, 0.0, False, {"invalid_action": True, **self.state_info()}
        room = self.room
        verb, _, rest = command.partition(" ")
        if verb == "go":
            room.location = rest[len("to ") :]
            observation = f"You arrive at {room.location}. {room.describe(room.location)}"
        elif verb == "open":
            room.opened.add(rest)
            observation = f"You open the {rest}. {room.describe(rest)}"
        elif verb == "close":
            room.opened.discard(rest)
            observation = f"You close the {rest}."
        elif verb == "take":
            obj, _, receptacle = rest.partition(" from ")
            room.contents[receptacle].remove(obj)
            room.holding = obj
            observation = f"You pick up the {obj} from the {receptacle}."
        else:  # move
            obj, _, receptacle = rest.partition(" to ")
            room.contents[receptacle].append(obj)
            room.holding = None
            observation = f"You move the {obj} to the {receptacle}."
        won = room.won()
        return observation, float(won), won, {"invalid_action": False, **self.state_info()}
