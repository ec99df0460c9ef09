"""A Gymnasium space for free text.

``gymnasium.spaces.Text`` only accepts characters from a fixed charset (alphanumeric by default);
an LLM writes any unicode. ``AnyText`` accepts every ``str`` up to ``max_length`` characters and
keeps ``Text``'s vectorization support (``batch_space`` gives a ``Tuple`` of texts).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium import spaces

SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


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
