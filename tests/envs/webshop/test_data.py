"""Loading the original's data files, the synthetic catalogue in the same schema, and goals."""

from __future__ import annotations

import json
import random

import pytest

from turngym.envs.webshop.data import (
    WebShopDataError,
    build_products,
    load_products,
    parse_pricing,
    product_prices,
)
from turngym.envs.webshop.goals import build_goals, goal_split, price_limit
from turngym.envs.webshop.synthetic import generate_records, write_catalogue

RECORD = {
    "asin": "B000000001",
    "name": "Acme Cotton Shirt",
    "full_description": "A shirt.",
    "small_description": "SOFT: it is soft",  # one string: becomes one bullet point
    "pricing": "$10.00 - $20.00",
    "images": ["https://example.invalid/a.jpg"],
    "category": "fashion",
    "query": " Men's Shirts ",
    "product_category": "Clothing › Men › Shirts",
    "customization_options": {
        "Color": [{"value": "Navy/White", "image": None}, {"value": "Red "}],
        "Size": None,
    },
    "brand": "Acme",
}
ATTRIBUTES = {
    "B000000001": {
        "attributes": ["cotton", "machine wash"],
        "instruction": "i need a cotton shirt",
        "instruction_attributes": ["cotton"],
    }
}
HUMAN = {
    "B000000001": [
        {"instruction": "i want a red cotton shirt.", "instruction_attributes": ["cotton"],
         "instruction_options": ["red"]},
        {"instruction": "no attributes", "instruction_attributes": [], "instruction_options": []},
    ]
}  # fmt: skip


def write(folder, items=(RECORD,), attributes=ATTRIBUTES, human=None, name="items_shuffle_1k"):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(list(items)))
    (folder / "items_ins_v2_1k.json").write_text(json.dumps(attributes))
    if human is not None:
        (folder / "items_human_ins.json").write_text(json.dumps(human))
    return folder


def test_loads_the_original_schema(tmp_path) -> None:
    extra = dict(RECORD, asin="nan")  # skipped, as are long and repeated ASINs
    longer = dict(RECORD, asin="B0000000011")
    [product] = load_products(write(tmp_path, (RECORD, extra, longer, RECORD)))
    assert product["Title"] == "Acme Cotton Shirt" and product["Description"] == "A shirt."
    assert product["BulletPoints"] == ["SOFT: it is soft"]
    assert product["pricing"] == [10.0, 20.0] and product["Price"] == "$10.0 to $20.0"
    assert product["options"] == {"color": ["navy | white", "red"]}  # None groups dropped
    assert product["query"] == "men's shirts" and product["Rating"] == "N.A."
    assert product["Attributes"] == ["cotton", "machine wash"]
    assert product["instruction_attributes"] == ["cotton"] and "instructions" not in product
    assert 10.0 <= product_prices([product])["B000000001"] <= 20.0


def test_human_instructions_make_human_goals(tmp_path) -> None:
    products = load_products(write(tmp_path, human=HUMAN))
    goals = build_goals(products, product_prices(products))  # auto: human when present
    [goal] = goals  # the instruction without attributes is skipped
    assert goal["instruction_text"].startswith("i want a red cotton shirt, and price lower than")
    assert goal["goal_options"] == ["red"] and goal["weight"] == 1
    synthetic = build_goals(products, product_prices(products), "synthetic")
    assert sorted(g["goal_options"]["color"] for g in synthetic) == ["navy | white", "red"]
    assert synthetic[0]["instruction_text"].startswith("i need a cotton shirt with color: ")


def test_pricing_and_price_limit_rule() -> None:
    assert parse_pricing("$12.99") == ([12.99], "$12.99")
    assert parse_pricing(None) == ([100.0], "$100.0")
    rng = random.Random(0)
    for price in (0.5, 12.99, 955.0):
        upper, text = price_limit(price, rng)
        above = [10.0 * i for i in range(1, 100) if 10.0 * i > price][:4]
        assert upper in above[1:] and text == f", and price lower than {upper:.2f} dollars"
    assert price_limit(975.0, rng)[0] == 990.0  # $980 and $990 are above: the larger
    assert price_limit(985.0, rng) == (1_000_000, "")  # only $990 is above: no limit


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: (f / "items_shuffle_1k.json").write_text("[{"), "not valid JSON"),
        (lambda f: (f / "items_shuffle_1k.json").write_text("{}"), "expected a JSON list"),
        (lambda f: (f / "items_shuffle_1k.json").write_text(json.dumps([{"asin": "B1"}])),
         "record 0 (asin 'B1') lacks key 'name'"),
        (lambda f: (f / "items_shuffle_1k.json").write_text(json.dumps([{"name": "x"}])),
         "record 0 has no string 'asin'"),
        (lambda f: (f / "items_shuffle_1k.json").write_text(
            json.dumps([dict(RECORD, pricing="$abc")])), "(asin 'B000000001') is malformed"),
        (lambda f: (f / "items_ins_v2_1k.json").write_text(json.dumps({"B1": 3})),
         "record 'B1' is not an object"),
        (lambda f: (f / "items_human_ins.json").write_text(json.dumps({"B1": {}})),
         "items_human_ins.json: record 'B1' is not a list"),
        (lambda f: (f / "items_shuffle_2k.json").write_text("[]"), "exactly one items_shuffle"),
        (lambda f: (f / "items_ins_v2_1k.json").unlink(), "found no file"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_and_record(tmp_path, change, message) -> None:
    folder = write(tmp_path)
    change(folder)
    with pytest.raises(WebShopDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_products(folder)
    with pytest.raises(WebShopDataError, match="does not exist"):
        load_products(tmp_path / "nowhere")


def test_synthetic_catalogue_round_trips_through_the_original_schema(tmp_path) -> None:
    items, attributes = generate_records(300, seed=4)
    assert generate_records(300, seed=4) == (items, attributes)  # seeded
    assert generate_records(300, seed=5)[0] != items
    from_files = load_products(write_catalogue(tmp_path, 300, seed=4))
    assert from_files == build_products(items, attributes)
    assert len({p["asin"] for p in from_files}) == 300
    goals = build_goals(from_files, product_prices(from_files))
    assert goals == build_goals(from_files, product_prices(from_files))
    for goal in goals[:50]:
        product = next(p for p in from_files if p["asin"] == goal["asin"])
        assert set(goal["attributes"]) <= set(product["Attributes"])
        assert all(product["options"][k] and v in product["options"][k]
                   for k, v in goal["goal_options"].items())  # fmt: skip
    for bad in (99, 100_001):
        with pytest.raises(ValueError, match=f"num_products={bad} is out of range"):
            generate_records(bad)


def test_split_by_goal_index() -> None:
    assert [goal_split(i) for i in (0, 499, 500, 1499, 1500, 10**6)] == [
        "test", "test", "eval", "eval", "train", "train",
    ]  # fmt: skip
