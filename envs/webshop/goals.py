"""Goals built the original's way (``get_synthetic_goals`` / ``get_human_goals``), and the split.

A synthetic goal is one product plus one combination of its option values::

    instruction_text = f"{instruction}{' with ' + 'k: v, and k: v' if options}{price_text}"

over the option names in sorted order; attributes are the product's ``instruction_attributes``.
A human goal is one of the product's ``instructions`` with non-empty attributes, its options the
instruction's ``instruction_options``. The price limit: of the first four multiples of $10
above the product's price, two are drawn and the larger is the limit (``", and price lower than
{limit:.2f} dollars"``); fewer than two such multiples (prices of $980 and more) give no limit
(1,000,000) and no text. Synthetic goals weigh the mean inverse frequency of their attributes;
human goals weigh 1.

The goals are then shuffled with ``random.Random(233)`` (the original's ``random.seed(233)``)
and indexed from 0. The split is fixed by goal index, as the original's baseline and verl-agent
use it: **test = goals 0-499, eval = 500-1,499, train = 1,500 and above**
(:data:`SPLITS`). The original draws price limits from the unseeded global generator; here they
come from ``random.Random(seed)``, so the same catalogue and seed give the same goals.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from typing import Any

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_LIMIT = 1_000_000
GOAL_SHUFFLE_SEED = 233
SPLITS = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}


def goal_split(index: int) -> str:
    """``"test"``, ``"eval"`` or ``"train"`` for a goal index (see :data:`SPLITS`)."""
    return "test" if index < 500 else ("eval" if index < 1500 else "train")


def price_limit(price: float, rng: random.Random) -> tuple[float, str]:
    """``(limit, text)`` by the original's rule (module docstring)."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_LIMIT, ""
    _, upper = sorted(rng.sample(above, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _goal(product: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "asin": product["asin"],
        "category": product["category"],
        "query": product["query"],
        "name": product["Title"],
        "product_category": product["product_category"],
        **fields,
    }


def synthetic_goals(
    products: list[dict[str, Any]], prices: dict[str, float], rng: random.Random
) -> list[dict[str, Any]]:
    """One goal per product and option combination (products without an instruction: none)."""
    goals, attribute_counts = [], defaultdict(int)
    for product in products:
        if product.get("instruction_text") is None:
            continue
        attributes = product["instruction_attributes"] or []
        if not attributes:
            raise ValueError(f"product {product['asin']!r} has an instruction but no attributes")
        upper, price_text = price_limit(prices[product["asin"]], rng)
        names = sorted(product["options"])
        for combination in itertools.product(*(product["options"][n] for n in names)):
            options = dict(zip(names, combination, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append(
                _goal(
                    product,
                    instruction_text=f"{product['instruction_text']}{option_text}{price_text}",
                    attributes=attributes,
                    price_upper=upper,
                    goal_options=options,
                )
            )
            for attribute in attributes:
                attribute_counts[attribute] += 1
    for goal in goals:
        inverse = [1.0 / attribute_counts[a] for a in goal["attributes"]]
        goal["weight"] = sum(inverse) / len(inverse)
    return goals


def human_goals(
    products: list[dict[str, Any]], prices: dict[str, float], rng: random.Random
) -> list[dict[str, Any]]:
    """One goal per human instruction that names attributes."""
    goals = []
    for product in products:
        for instruction in product.get("instructions", []):
            attributes = instruction.get("instruction_attributes") or []
            if not attributes:
                continue
            upper, price_text = price_limit(prices[product["asin"]], rng)
            goals.append(
                _goal(
                    product,
                    instruction_text=instruction["instruction"].strip(".") + price_text,
                    attributes=attributes,
                    price_upper=upper,
                    goal_options=instruction.get("instruction_options") or [],
                    weight=1,
                )
            )
    return goals


def build_goals(
    products: list[dict[str, Any]],
    prices: dict[str, float],
    kind: str = "auto",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Goals of ``kind`` (``synthetic``, ``human``, or ``auto``: human when the products carry
    human instructions), shuffled as the original does."""
    if kind not in ("auto", "synthetic", "human"):
        raise ValueError(f"goals={kind!r} is unknown; choose auto, synthetic or human")
    if kind == "auto":
        kind = "human" if any("instructions" in p for p in products) else "synthetic"
    rng = random.Random(seed)
    goals = (human_goals if kind == "human" else synthetic_goals)(products, prices, rng)
    if not goals:
        raise ValueError(f"the catalogue yields no {kind} goals")
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return goals
