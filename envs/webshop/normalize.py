"""Colour normalization of option values, as the original WebShop reward does it.

``normalize_color`` maps an option value to the first entry of :data:`COLOR_SET` (in the list's
order) that occurs in it as a substring, else returns the value unchanged: ``"black forest"``
becomes ``"black"``, ``"violet lavender"`` becomes ``"lavender"`` (it comes first in the list).
The word list is the original's (``web_agent_site/engine/normalize.py``), in the same order.
"""

from __future__ import annotations

from typing import Any

COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper",
    "coral", "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso",
    "fuchsia", "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather",
    "indigo", "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime",
    "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom",
    "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum",
    "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver",
    "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger",
    "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)  # fmt: skip


def normalize_color(value: Any) -> Any:
    """The first colour of :data:`COLOR_SET` found in ``value``, else ``value`` itself.

    ``in`` is Python's own test, as in the original: a substring test for a string, an element
    test for a tuple (the original passes ``(name, value)`` pairs for synthetic goals).

    >>> normalize_color("steelivy fuchsia"), normalize_color("webshop")
    ('fuchsia', 'webshop')
    """
    for color in COLOR_SET:
        if color in value:
            return color
    return value
