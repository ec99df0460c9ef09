"""The WebShop reward matches the original ``goal.py``: the original repository's own test cases
(``tests/web-agent-site/engine/test_goal.py``, ``test_normalize.py``) with their expected
values, and a hand-worked example for every branch."""

from __future__ import annotations

import random
from math import isclose

import pytest

from turngym.envs.webshop.normalize import normalize_color
from turngym.envs.webshop.nouns import get_noun_extractor, heuristic_nouns
from turngym.envs.webshop.reward import (
    attribute_reward,
    fuzzy_ratio,
    get_reward,
    option_reward,
    type_reward,
)

SOUNDBAR = (
    "Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar"
)
CORD = (
    "BRST AC Power Cord Outlet Socket Cable Plug Lead for Panasonic SC-HT830V DVD/VCR Combo "
    "Home Theater System"
)


# -- the original repository's test cases ------------------------------------------------------
def test_original_type_reward() -> None:
    goal = {"query": "Query 1", "product_category": "a › b › c", "name": "Name 1"}
    purchased = dict(goal)
    result = type_reward(purchased, goal)
    assert result == {"r_type": 1.0, "query_match": True, "category_match": True, "title_score": 1}
    purchased["query"] = "Query 2"
    assert type_reward(purchased, goal)["query_match"] is False
    for path, shared in [("b › c › a", True), ("d › e › f", False), ("a › d › b", True),
                         ("a › a › b", True), ("a › a › d", False)]:  # fmt: skip
        purchased["product_category"] = path
        assert type_reward(purchased, goal)["category_match"] is shared, path
    for desired, bought, expected in [
        ("adidas Unisex-Adult D.o.n. Issue 2 Basketball Shoe",
         "adidas Unisex-Adult D.o.n. Issue 2 Indoor Court Shoe", 0.85),
        (SOUNDBAR + " Home Theater System Subwoofer", CORD, 0.31),
        (SOUNDBAR, CORD, 0.17),
    ]:  # fmt: skip
        goal["name"], purchased["name"] = desired, bought
        assert isclose(type_reward(purchased, goal)["title_score"], expected, abs_tol=1e-2)
    goal["name"] = "Rusticware 921ORB Kitchen and Bath Cabinet Knob"
    purchased["name"] = (
        "Minkissy 2pcs Stainless Steel Eyebrow Tweezers Blackhead Acne Remover Portable "
        "Makeup Tweezers (Silver)"
    )
    assert type_reward(purchased, goal)["title_score"] < 0.05


def test_original_attribute_reward() -> None:
    goal = {"attributes": ["tea tree", "essential oils", "natural ingredients"]}
    exact = {"Attributes": ["tea tree", "essential oil", "natural ingredients"]}
    assert attribute_reward(exact, goal) == (1, 3)
    partial = {"Attributes": ["essential oil", "natural ingredients"], "Title": "",
               "BulletPoints": [], "Description": ""}  # fmt: skip
    assert attribute_reward(partial, goal) == (2 / 3, 2)
    in_text = {
        "Attributes": [],
        "Title": "",
        "BulletPoints": ["This shampoo has essential oils and smells like lemons"],
        "Description": "Best shampoo on the market, made with natural ingredients",
    }
    assert attribute_reward(in_text, goal) == (2 / 3, 2)
    none = {
        "Attributes": ["tea bag", "earl gray", "lipton"],
        "Title": "English tea for breakfast",
        "BulletPoints": ["Soothing aroma", "Calming, great feeling"],
        "Description": "Best tea made by Lipton, great to pair with breakfast",
    }
    assert attribute_reward(none, goal) == (0, 0)


def test_original_option_reward() -> None:
    for goal, bought, expected in [
        (["grey", "XL", "pack of 12"], ["pack of 12", "grey", "XL"], (1, 3)),
        (["grey", "XL", "pack of 12"], ["pack of 12", "blue", "XL"], (2 / 3, 2)),
        (["cool powder snow", "XL", "pack of 12"], ["pack of 12", "powder snow", "XL"], (1, 3)),
        ([], ["goal 1", "goal 2"], (None, 0)),
        (["goal 1", "goal 2"], [], (0, 0)),
    ]:
        assert option_reward(bought, goal) == expected


def test_original_get_reward() -> None:
    goal = {
        "query": "Query 1",
        "product_category": "a › b › c",
        "name": "Mens D.O.N. Issue 2 Gca Basketball Sneakers Shoes Casual - Off White",
        "attributes": ["tea tree", "essential oils", "natural ingredients"],
        "goal_options": {"color": "grey", "size": "XL"},
        "price_upper": 40.00,
    }
    purchased = {
        "query": "Query 1",
        "product_category": "a › b › c",
        "name": goal["name"],
        "Attributes": ["tea tree", "essential oil", "natural ingredients"],
        "Title": "",
        "BulletPoints": [],
        "Description": "",
    }
    options = {"color": "grey", "size": "XL"}
    assert get_reward(purchased, goal, 35, options)[0] == 1
    purchased["Attributes"] = []
    purchased["BulletPoints"] = "This shampoo has essential oils and smells like lemons"  # a str
    purchased["Description"] = "Best shampoo on the market, made with natural ingredients"
    assert isclose(get_reward(purchased, goal, 35, options)[0], 2 / 3, abs_tol=1e-2)
    goal["goal_options"] = {"color": "grey", "size": "XL", "amount": "pack of 12"}
    assert isclose(get_reward(purchased, goal, 35, options)[0], 0.5714, abs_tol=1e-2)
    goal["name"], purchased["name"] = SOUNDBAR, CORD
    purchased["query"], purchased["product_category"] = "Query 2", "a › d › e"
    assert isclose(get_reward(purchased, goal, 35, options)[0], 0.2857, abs_tol=1e-2)


def test_original_normalize_color() -> None:
    for value, expected in [("", ""), ("black forest", "black"), ("violet lavender", "lavender"),
                            ("steelivy fuchsia", "fuchsia"), ("123alabaster", "alabaster"),
                            ("webshop", "webshop")]:  # fmt: skip
        assert normalize_color(value) == expected


# -- every branch, worked by hand ----------------------------------------------------------------
def product(**fields):
    base = {"query": "q", "product_category": "a › b", "name": "red cotton shirt",
            "Attributes": [], "Title": "", "BulletPoints": [], "Description": ""}  # fmt: skip
    return {**base, **fields}


def goal(**fields):
    base = {"query": "q", "product_category": "a › b", "name": "red cotton shirt",
            "attributes": ["cotton"], "goal_options": [], "price_upper": 20.0}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    "bought, wanted, r_type, title_score",
    [
        ({}, {}, 1.0, 1.0),  # everything matches
        ({"query": "x", "product_category": "c › d"}, {}, 1.0, 1.0),  # the title alone (> 0.2)
        # 1 of 4 goal nouns (0.25 > 0.2): still a match
        ({"query": "x", "product_category": "c › d", "name": "shirt"},
         {"name": "cotton shirt hat bag"}, 1.0, 0.25),
        # 1 of 5 nouns = 0.2 is not > 0.2, and nothing else matches: 0.5
        ({"query": "x", "product_category": "c › d", "name": "shirt"},
         {"name": "shirt hat bag box cup"}, 0.5, 0.2),
        # the query matches, but 1 of 11 nouns (< 0.1) gives 0.1 anyway
        ({"name": "shirt"}, {"name": "shirt hat bag box cup pen jar mug rug mat lid"}, 0.1, 1 / 11),
        ({"name": "shoe"}, {"name": "shirt"}, 0.0, 0.0),  # no shared noun: 0
        ({"query": "x", "product_category": "c › d"}, {"name": "2 of 3"}, 0.5, 0.2),  # no nouns
    ],
)  # fmt: skip
def test_type_reward_branches(bought, wanted, r_type, title_score) -> None:
    result = type_reward(product(**bought), goal(**wanted))
    assert result["r_type"] == r_type and isclose(result["title_score"], title_score)


def test_attribute_match_paths() -> None:
    wanted = goal(attributes=["machine wash", "slim fit", "cotton", "v neck"])
    bought = product(
        Attributes=["Machine-Wash!"],  # fuzzy (punctuation and case do not count)
        Title="A Slim Fit shirt",  # substring of the title, lower-cased
        BulletPoints=["100%", "COTTON"],  # substring of the joined bullet points
        Description="crew neck",  # "v neck" is nowhere
    )
    assert attribute_reward(bought, wanted) == (0.75, 3)
    # a fuzzy score of exactly 85 is not > 85
    assert fuzzy_ratio("abcdefghijklmnopqrst", "abcdefghijklmnopqrstuvwxyzab") < 86


def test_option_colour_normalization_and_dict_goals() -> None:
    # "navy blue" and "light blue" both normalize to "blue"
    assert option_reward(["light blue"], ["navy blue"]) == (1, 1)
    # a dict goal compares (name, value) pairs, as the original does
    shirt, wanted = product(Title="Cotton shirt"), goal(goal_options={"size": "xl"})
    score, info = get_reward(shirt, wanted, 10, {"size": "XL"})
    assert info["r_option"] == 1 and score == 1
    score, info = get_reward(shirt, wanted, 10, {"size": "small"})
    assert info["r_option"] == 0 and isclose(score, 2 / 3)


def test_price_limit_and_parts() -> None:
    score, info = get_reward(product(Title="cotton"), goal(), 25.0, {})
    assert info["r_price"] is False and score == 0.5  # attribute yes, price no: (1 + 0) / 2
    assert info["w_att"] == 0.5 and info["w_price"] == 0.5 and "r_option" not in info
    assert get_reward(product(Title="cotton"), goal(), 20.0, {})[0] == 1.0  # <= the limit


def test_fuzzy_ratio_matches_thefuzz() -> None:
    fuzz = pytest.importorskip("thefuzz.fuzz")
    rng = random.Random(0)
    words = ["red", "Red!", "pack", "of", "12", "xl", "x-large", "navy blue", "café", "Ünïcode",
             "powder", "snow", "tea tree", "oils", "_under_", "", " "]  # fmt: skip
    for _ in range(2000):
        a = " ".join(rng.choices(words, k=rng.randint(0, 5)))
        b = " ".join(rng.choices(words, k=rng.randint(0, 5)))
        assert fuzzy_ratio(a, b) == fuzz.token_set_ratio(a, b), (a, b)
    assert fuzzy_ratio(("size", "XL"), "XL") == fuzz.token_set_ratio(("size", "XL"), "XL") == 100


def test_spacy_extractor_is_the_originals_method() -> None:
    pytest.importorskip("spacy")
    nouns = get_noun_extractor("spacy")
    result = type_reward(
        product(name=CORD), goal(name=SOUNDBAR + " Home Theater System Subwoofer"), nouns
    )
    assert isclose(result["title_score"], 0.31, abs_tol=1e-2)
    shoes = type_reward(
        product(name="adidas Unisex-Adult D.o.n. Issue 2 Indoor Court Shoe"),
        goal(name="adidas Unisex-Adult D.o.n. Issue 2 Basketball Shoe"),
        nouns,
    )
    # en_core_web_sm 3.8 does not tag "adidas" a noun: 5/6, where the original test expects 0.85
    assert isclose(shoes["title_score"], 5 / 6)


def test_heuristic_nouns() -> None:
    assert heuristic_nouns("Unisex-Adult D.o.n. Shoe (Silver), 2-Pack 4K") == [
        "unisex", "adult", "d.o.n.", "shoe", "silver", "pack",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="noun_extractor='nope' is unknown"):
        get_noun_extractor("nope")
