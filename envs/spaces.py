"""A Gymnasium space for free text, and its shared memory for ``AsyncVectorEnv``.

``gymnasium.spaces.Text`` only accepts characters from a fixed charset (alphanumeric by default);
an LLM writes any unicode. ``AnyText`` accepts every ``str`` up to ``max_length`` characters and
keeps ``Text``'s vectorization support (``batch_space`` gives a ``Tuple`` of texts).

``AsyncVectorEnv`` passes observations through shared memory by default. Gymnasium's ``Text``
handlers cannot carry it: writing a character outside the charset (``'\\n'``) raises
``KeyError``, and the parent decodes the buffer once, when the vector env is built, so later
observations never show. The handlers registered below (Gymnasium's ``singledispatch``
extension points) store each environment's observation as UTF-8 bytes with its length and hand
the parent a live view, so ``gymnasium.make_vec(id, vectorization_mode="async")`` works with
its defaults.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import shared_memory as gym_shared_memory

SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "
UTF8_MAX_BYTES = 4  # bytes per character, at most


class AnyText(spaces.Text):
    """Any Python string with ``min_length <= len(s) <= max_length``."""

    def __init__(self, max_length: int = 1 << 20, min_length: int = 0, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random printable string of up to 64 characters (for fuzzing and checkers)."""
        length = int(self.np_random.integers(self.min_length, min(self.max_length, 64) + 1))
        chars = self.np_random.choice(np.array(list(SAMPLE_CHARSET)), size=length)
        return "".join(chars.tolist())

    def __repr__(self) -> str:
        return f"AnyText(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )


class SharedTexts(Sequence):
    """The texts of ``n`` environments in shared memory, decoded when read (a live view).

    ``copy.deepcopy`` (what ``AsyncVectorEnv`` returns by default) gives a plain tuple of the
    texts as they are now.
    """

    def __init__(self, memory: tuple[Any, Any], n: int, capacity: int):
        self.lengths, self.data, self.n, self.capacity = memory[0], memory[1], n, capacity

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):  # noqa: ANN001 (int or slice, as any Sequence)
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self.n)))
        if not -self.n <= index < self.n:
            raise IndexError(index)
        index %= self.n
        start = index * self.capacity
        view = memoryview(self.data.get_obj()).cast("B")
        return view[start : start + self.lengths[index]].tobytes().decode("utf-8")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@gym_shared_memory.create_shared_memory.register(AnyText)
def _create_any_text_memory(space: AnyText, n: int = 1, ctx: Any = None) -> tuple[Any, Any]:
    import multiprocessing

    ctx = ctx or multiprocessing
    return ctx.Array("q", n), ctx.Array("B", n * space.max_length * UTF8_MAX_BYTES)


@gym_shared_memory.read_from_shared_memory.register(AnyText)
def _read_any_text_memory(space: AnyText, memory: tuple[Any, Any], n: int = 1) -> SharedTexts:
    return SharedTexts(memory, n, space.max_length * UTF8_MAX_BYTES)


@gym_shared_memory.write_to_shared_memory.register(AnyText)
def _write_any_text_memory(space: AnyText, index: int, value: str, memory: tuple) -> None:
    if not space.contains(value):
        raise ValueError(f"observation {value!r:.80} is not in {space}: a str of at most "
                         f"{space.max_length} characters")  # fmt: skip
    encoded = value.encode("utf-8")
    capacity = space.max_length * UTF8_MAX_BYTES
    lengths, data = memory
    view = memoryview(data.get_obj()).cast("B")
    view[index * capacity : index * capacity + len(encoded)] = encoded
    lengths[index] = len(encoded)
