"""The WebShop reward, as the original ``web_agent_site/engine/goal.py`` computes it.

For a purchased product ``p`` bought at ``price`` with the chosen options, and a goal ``g``
with attributes ``A``, options ``O`` and price limit ``u``::

    score = r_type * (n_attr + n_option + r_price) / (|A| + |O| + 1)

- ``n_attr``: goal attributes matched, each either by a product attribute with fuzzy
  token-set ratio > 85, or else as a substring of the lower-cased title, bullet points
  (joined with spaces) or description.
- ``n_option``: goal options matched by a chosen option value with fuzzy ratio > 85, both
  colour-normalized (:func:`~.normalize.normalize_color`). As in the original, a goal whose
  options are a ``{name: value}`` dict is compared through its ``(name, value)`` pairs.
- ``r_price``: ``price <= u`` (1 or 0).
- ``r_type`` (product type): 1.0, lowered to 0.5 when the query, the category path
  (two or more shared ``›`` parts) and the noun-overlap title score (> 0.2) all fail to match;
  then 0.1 if ``title_score < 0.1`` and 0.0 if ``title_score == 0``, in that order. ``title_score``
  is the share of the goal name's nouns found among the purchased name's nouns (0.2 when the goal
  name has none).

The fuzzy ratio is thefuzz's ``token_set_ratio`` (thefuzz >= 0.20 computes it with rapidfuzz):
both strings go through ``str()``, lose characters U+0080..U+00FF, then rapidfuzz's
``default_process``; the score is rounded to an integer. thefuzz 0.19 (the version WebShop pins)
without python-Levenshtein used difflib's matcher, which can differ by a point in rare cases.
Products and goals are the original's dicts (keys ``Title``, ``BulletPoints``, ``Description``,
``Attributes``, ``query``, ``product_category``, ``name``; ``attributes``, ``goal_options``,
``price_upper``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rapidfuzz import fuzz, utils

from .normalize import normalize_color
from .nouns import NounExtractor, heuristic_nouns

FUZZY_THRESHOLD = 85
_LATIN1_SUPPLEMENT = {code: None for code in range(128, 256)}


def fuzzy_ratio(a: Any, b: Any) -> int:
    """thefuzz's ``fuzz.token_set_ratio(a, b)`` (0..100, an int).

    >>> fuzzy_ratio("cool powder snow", "powder snow")
    100
    """
    if a is None or b is None:
        return 0
    first = utils.default_process(str(a).translate(_LATIN1_SUPPLEMENT))
    second = utils.default_process(str(b).translate(_LATIN1_SUPPLEMENT))
    return int(round(fuzz.token_set_ratio(first, second)))


def type_reward(
    purchased: Mapping[str, Any], goal: Mapping[str, Any], nouns: NounExtractor = heuristic_nouns
) -> dict[str, Any]:
    """``r_type``, ``query_match``, ``category_match`` and ``title_score`` (module docstring)."""
    query_match = purchased["query"] == goal["query"]
    purchased_path = {part.strip() for part in purchased["product_category"].split("›")}
    goal_path = {part.strip() for part in goal["product_category"].split("›")}
    category_match = len(purchased_path & goal_path) >= 2
    purchased_nouns, desired_nouns = nouns(purchased["name"]), nouns(goal["name"])
    if desired_nouns:
        title_score = len(set(purchased_nouns) & set(desired_nouns)) / len(desired_nouns)
    else:
        title_score = 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


def _in_product_text(needle: str, product: Mapping[str, Any]) -> bool:
    return (
        needle in product["Title"].lower()
        or needle in " ".join(product["BulletPoints"]).lower()
        or needle in product["Description"].lower()
    )


def attribute_reward(purchased: Mapping[str, Any], goal: Mapping[str, Any]) -> tuple[float, int]:
    """``(r_attr, n_attr)``: the share and count of goal attributes the product has."""
    goal_attributes = goal["attributes"]
    matches = 0
    for wanted in goal_attributes:
        if any(fuzzy_ratio(have, wanted) > FUZZY_THRESHOLD for have in purchased["Attributes"]):
            matches += 1
        elif _in_product_text(wanted, purchased):
            matches += 1
    return matches / len(goal_attributes), matches


def option_reward(purchased_options: list[Any], goal_options: Any) -> tuple[float | None, int]:
    """``(r_option, n_option)``; ``r_option`` is ``None`` when the goal has no options."""
    chosen = [normalize_color(option) for option in purchased_options]
    wanted = [normalize_color(option) for option in goal_options]
    matches = sum(
        any(fuzzy_ratio(have, option) > FUZZY_THRESHOLD for have in chosen) for option in wanted
    )
    return (matches / len(wanted) if wanted else None), matches


def goal_option_items(goal_options: Any) -> Any:
    """What the original compares chosen options with: ``(name, value)`` pairs for a dict."""
    return goal_options.items() if isinstance(goal_options, dict) else goal_options


def get_reward(
    purchased: Mapping[str, Any],
    goal: Mapping[str, Any],
    price: float,
    options: Mapping[str, str],
    nouns: NounExtractor = heuristic_nouns,
) -> tuple[float, dict[str, Any]]:
    """The score in [0, 1] and its parts (the original's ``verbose`` info).

    Args:
        purchased: the bought product (the original's product dict).
        goal: the goal dict.
        price: the price paid.
        options: the chosen ``{option name: value}``.
        nouns: the noun extractor for ``title_score``.
    """
    kind = type_reward(purchased, goal, nouns)
    r_price = (price <= goal["price_upper"]) if goal["price_upper"] > 0 else None
    r_attr, n_attr = attribute_reward(purchased, goal)
    r_option, n_option = option_reward(
        list(options.values()), goal_option_items(goal["goal_options"])
    )
    denominator = len(goal["attributes"]) + len(goal["goal_options"]) + 1
    score = (n_attr + n_option + r_price) / denominator * kind["r_type"]
    info = {
        "r_type": kind["r_type"],
        "r_att": r_attr,
        "w_att": len(goal["attributes"]) / denominator,
        "query_match": kind["query_match"],
        "category_match": kind["category_match"],
        "title_score": kind["title_score"],
    }
    if r_option is not None:
        info["r_option"] = r_option
        info["w_option"] = len(goal["goal_options"]) / denominator
    if r_price is not None:
        info["r_price"] = r_price
        info["w_price"] = 1 / denominator
    return score, info
