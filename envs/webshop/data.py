"""WebShop products: the original data files, read into the original's product dicts.

Three files, with the original's schemas (``web_agent_site/engine/engine.py``):

- ``items_shuffle*.json``: a list of scraped products, each with ``asin``, ``name``,
  ``full_description``, ``small_description`` (bullet points: a list or one string), ``pricing``
  (``"$12.99"`` or ``"$10.00 - $20.00"``), ``images``, ``category``, ``query``,
  ``product_category`` (``"a › b › c"``) and ``customization_options``
  (``{name: [{"value": ..., "image": ...}, ...]}``).
- ``items_ins_v2*.json``: ``{asin: {"attributes": [...], "instruction": ...,
  "instruction_attributes": [...]}}`` (product attributes and the synthetic instruction).
- ``items_human_ins.json`` (optional): ``{asin: [{"instruction": ..., "instruction_attributes":
  [...], "instruction_options": [...]}, ...]}`` (instructions written by people).

Each product becomes the dict the original's pages and reward read: ``Title``, ``Description``,
``BulletPoints``, ``Price`` (the tag shown), ``pricing`` (floats), ``options`` (lower-cased names
and values, ``/`` shown as `` | ``), ``Attributes`` (``["DUMMY_ATTR"]`` when the product has
none), ``Reviews``, ``Rating``, ``MainImage`` and the goal fields. As in the original, records
with an ASIN of ``nan`` or longer than 10 characters and repeated ASINs are skipped. An
extension: a product record may carry ``reviews`` (``[{"title", "score", "body"}]``) and
``average_rating``; the original's files have neither and show ``Rating: N.A.``.
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

DEFAULT_PRICE = 100.0
PRODUCT_KEYS = (
    "asin", "name", "full_description", "small_description", "category", "query",
    "product_category", "customization_options",
)  # fmt: skip


class WebShopDataError(ValueError):
    """A missing or malformed WebShop data file or record (the message names which)."""


def find_data_file(data_dir: str | os.PathLike, pattern: str, preferred: str) -> Path:
    """``data_dir/preferred`` if present, else the one file matching ``pattern``."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise WebShopDataError(f"WebShop data folder {str(folder)!r} does not exist")
    if (folder / preferred).is_file():
        return folder / preferred
    found = sorted(glob.glob(str(folder / pattern)))
    if len(found) != 1:
        what = "no file" if not found else f"{len(found)} files ({', '.join(found)})"
        raise WebShopDataError(
            f"{folder}: expected {preferred} or exactly one {pattern}, found {what}"
        )
    return Path(found[0])


def read_json(path: str | os.PathLike, kind: type) -> Any:
    """Parse a JSON file that must hold a ``kind`` (list or dict); errors name the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except FileNotFoundError:
        raise WebShopDataError(f"WebShop data file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WebShopDataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, kind):
        raise WebShopDataError(
            f"{path}: expected a JSON {kind.__name__}, found {type(value).__name__}"
        )
    return value


def parse_pricing(pricing: Any) -> tuple[list[float], str]:
    """``(prices, tag)``: ``"$10.00 - $20.00"`` -> ``([10.0, 20.0], "$10.0 to $20.0")``.

    >>> parse_pricing("$12.99")
    ([12.99], '$12.99')
    """
    if not pricing:
        return [DEFAULT_PRICE], f"${DEFAULT_PRICE}"
    prices = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]]
    if not prices:
        raise ValueError(f"no $ amount in pricing {pricing!r}")
    if len(prices) == 1:
        return prices, f"${prices[0]}"
    return prices[:2], f"${prices[0]} to ${prices[1]}"


def parse_options(customization_options: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """``(options, option_to_image)`` with lower-cased names and values, ``/`` as `` | ``."""
    options: dict[str, list[str]] = {}
    option_to_image: dict[str, Any] = {}
    for name, contents in (customization_options or {}).items():
        if contents is None:
            continue
        values = []
        for content in contents:
            value = content["value"].strip().replace("/", " | ").lower()
            values.append(value)
            option_to_image[value] = content.get("image")
        options[name.lower()] = values
    return options, option_to_image


def parse_reviews(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    reviews = []
    for review in record.get("reviews") or []:
        score = review.get("score", review.get("stars", 0))
        body = review.get("body", review.get("review", ""))
        reviews.append({"title": review.get("title", ""), "score": score, "body": body})
    return reviews


def make_product(
    record: Mapping[str, Any],
    attributes: Mapping[str, Any],
    human_instructions: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One product dict from a raw record; raises ``KeyError``/``ValueError``/``TypeError``."""
    asin = record["asin"]
    for key in PRODUCT_KEYS:
        if key not in record:
            raise KeyError(key)
    pricing, price_tag = parse_pricing(record.get("pricing"))
    options, option_to_image = parse_options(record["customization_options"])
    bullets = record["small_description"]
    product_attributes = attributes.get(asin) or {}
    images = record.get("images") or []
    product = {
        "asin": asin,
        "name": record["name"],
        "category": record["category"],
        "query": record["query"].lower().strip(),
        "product_category": record["product_category"],
        "Title": record["name"],
        "Description": record["full_description"],
        "BulletPoints": bullets if isinstance(bullets, list) else [bullets],
        "Reviews": parse_reviews(record),
        "Rating": record.get("average_rating", "N.A."),
        "pricing": pricing,
        "Price": price_tag,
        "options": options,
        "option_to_image": option_to_image,
        "Attributes": product_attributes.get("attributes") or ["DUMMY_ATTR"],
        "instruction_text": product_attributes.get("instruction"),
        "instruction_attributes": product_attributes.get("instruction_attributes"),
        "MainImage": images[0] if images else None,
    }
    if not isinstance(product["Title"], str) or not isinstance(product["Description"], str):
        raise TypeError("name and full_description must be strings")
    if human_instructions is not None and asin in human_instructions:
        product["instructions"] = human_instructions[asin]
    return product


def build_products(
    records: Iterable[Mapping[str, Any]],
    attributes: Mapping[str, Any],
    human_instructions: Mapping[str, Any] | None = None,
    num_products: int | None = None,
    source: str = "products",
) -> list[dict[str, Any]]:
    """Product dicts from raw records (the first ``num_products``), skipping bad ASINs."""
    products, seen = [], set()
    for index, record in enumerate(records):
        if num_products is not None and index >= num_products:
            break
        asin = record.get("asin") if isinstance(record, Mapping) else None
        if not isinstance(asin, str):
            raise WebShopDataError(f"{source}: record {index} has no string 'asin'")
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        try:
            products.append(make_product(record, attributes, human_instructions))
        except KeyError as error:
            raise WebShopDataError(
                f"{source}: record {index} (asin {asin!r}) lacks key {error}"
            ) from None
        except (ValueError, TypeError, AttributeError, InvalidOperation) as error:
            raise WebShopDataError(
                f"{source}: record {index} (asin {asin!r}) is malformed: {error}"
            ) from None
    if not products:
        raise WebShopDataError(f"{source}: no usable product records")
    return products


def load_products(
    data_dir: str | os.PathLike,
    num_products: int | None = None,
    products_file: str | None = None,
    attributes_file: str | None = None,
    human_file: str | None = None,
) -> list[dict[str, Any]]:
    """Read the original files from ``data_dir`` (see the module docstring).

    Args:
        data_dir: the folder holding the files.
        num_products: keep the first N records (the original's 1k/100k subsets).
        products_file, attributes_file, human_file: file names inside ``data_dir`` (default:
            ``items_shuffle.json`` or the one ``items_shuffle*.json``; ``items_ins_v2.json`` or the
            one ``items_ins_v2*.json``; ``items_human_ins.json`` if present).
    """
    folder = Path(data_dir)
    products_path = (
        folder / products_file
        if products_file
        else find_data_file(folder, "items_shuffle*.json", "items_shuffle.json")
    )
    attributes_path = (
        folder / attributes_file
        if attributes_file
        else find_data_file(folder, "items_ins_v2*.json", "items_ins_v2.json")
    )
    human_path = folder / (human_file or "items_human_ins.json")
    records = read_json(products_path, list)
    attributes = read_json(attributes_path, dict)
    for asin, value in attributes.items():
        if not isinstance(value, dict):
            raise WebShopDataError(f"{attributes_path}: record {asin!r} is not an object")
    human = None
    if human_file or human_path.is_file():
        human = read_json(human_path, dict)
        for asin, value in human.items():
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise WebShopDataError(f"{human_path}: record {asin!r} is not a list of objects")
    return build_products(records, attributes, human, num_products, source=str(products_path))


def product_prices(products: list[dict[str, Any]], seed: int = 0) -> dict[str, float]:
    """The price each product sells at: its one price, a seeded uniform draw within its range,
    or 100.0 (the original draws the range unseeded)."""
    rng = random.Random(seed)
    prices = {}
    for product in products:
        pricing = product["pricing"]
        prices[product["asin"]] = pricing[0] if len(pricing) == 1 else rng.uniform(*pricing[:2])
    return prices
