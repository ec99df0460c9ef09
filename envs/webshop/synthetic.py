"""A seeded synthetic WebShop catalogue, written in the original files' schema.

Everything runs offline on it: :func:`generate_records` makes ``(items, attributes)`` in the
schemas of ``items_shuffle.json`` and ``items_ins_v2.json`` (see :mod:`.data`) and
:func:`write_catalogue` writes them. Products come from a table of product types (category,
search query, category path, attribute pool, option groups); each product draws a brand, 2-4
attributes, 1-2 option groups with 2-4 values each, a price (one in six a range), a title, a
description, bullet points, reviews and the synthetic instruction ("i need a ... that is ...").
The same ``(num_products, seed)`` always gives the same catalogue.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

MIN_PRODUCTS, MAX_PRODUCTS = 100, 100_000

# (category, query, category path, noun, attribute pool, option groups)
PRODUCT_TYPES: tuple[tuple[str, str, str, str, tuple[str, ...], dict[str, tuple]], ...] = (
    ("fashion", "men's running shoes", "Clothing, Shoes & Jewelry › Men › Shoes › Athletic",
     "running shoes", ("rubber sole", "lace up", "memory foam", "non slip", "breathable mesh",
                       "arch support"),
     {"size": ("7", "8", "8.5", "9", "10", "11", "12"), "color": ("black", "white", "navy blue",
                                                               "grey", "red")}),
    ("fashion", "women's yoga pants", "Clothing, Shoes & Jewelry › Women › Clothing › Active",
     "yoga pants", ("high waist", "tummy control", "machine wash", "four way stretch",
                    "moisture wicking", "pockets"),
     {"size": ("x-small", "small", "medium", "large", "x-large"),
      "color": ("black", "charcoal", "olive green", "wine red", "navy")}),
    ("fashion", "men's t-shirt", "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
     "t-shirt", ("short sleeve", "cotton", "crew neck", "regular fit", "machine wash",
                 "slim fit"),
     {"size": ("small", "medium", "large", "x-large", "xx-large"),
      "color": ("white", "black", "heather grey", "royal blue", "maroon")}),
    ("fashion", "women's winter jacket", "Clothing, Shoes & Jewelry › Women › Coats & Jackets",
     "winter jacket", ("water resistant", "hooded", "zip closure", "fleece lined", "windproof",
                       "long sleeve"),
     {"size": ("small", "medium", "large", "x-large"), "color": ("black", "khaki", "burgundy",
                                                                 "light pink")}),
    ("fashion", "baseball cap", "Clothing, Shoes & Jewelry › Men › Accessories › Hats & Caps",
     "baseball cap", ("adjustable strap", "cotton", "sun protection", "embroidered logo",
                      "curved brim"),
     {"color": ("black", "beige", "army green", "denim blue", "white")}),
    ("fashion", "leather wallet", "Clothing, Shoes & Jewelry › Men › Accessories › Wallets",
     "wallet", ("genuine leather", "rfid blocking", "slim design", "gift box", "card slots"),
     {"color": ("brown", "black", "tan", "coffee")}),
    ("beauty", "hair shampoo", "Beauty & Personal Care › Hair Care › Shampoo & Conditioner",
     "shampoo", ("sulfate free", "paraben free", "tea tree", "natural ingredients",
                 "dry hair", "argan oil"),
     {"size": ("8 fl oz", "16 fl oz", "32 fl oz"), "scent": ("lavender", "coconut", "mint",
                                                             "unscented")}),
    ("beauty", "face moisturizer", "Beauty & Personal Care › Skin Care › Face › Moisturizers",
     "face moisturizer", ("hyaluronic acid", "oil free", "sensitive skin", "fragrance free",
                          "spf 30", "cruelty free"),
     {"size": ("1.7 ounce", "3.4 ounce"), "style": ("day cream", "night cream")}),
    ("beauty", "lipstick", "Beauty & Personal Care › Makeup › Lips › Lipstick",
     "lipstick", ("long lasting", "matte finish", "waterproof", "cruelty free", "moisturizing"),
     {"color": ("ruby red", "nude", "coral", "plum", "rose pink")}),
    ("beauty", "hair dryer", "Beauty & Personal Care › Hair Care › Styling Tools › Hair Dryers",
     "hair dryer", ("ionic technology", "fast drying", "low noise", "diffuser attachment",
                    "cool shot"),
     {"color": ("black", "rose gold", "white"), "style": ("1875 watt", "1600 watt")}),
    ("beauty", "nail polish", "Beauty & Personal Care › Foot, Hand & Nail Care › Nail Polish",
     "nail polish", ("quick dry", "long lasting", "non toxic", "chip resistant", "gel effect"),
     {"color": ("cherry red", "pastel blue", "glitter gold", "black", "lilac"),
      "size": ("pack of 1", "pack of 3", "pack of 6")}),
    ("beauty", "toothbrush", "Beauty & Personal Care › Oral Care › Toothbrushes",
     "electric toothbrush", ("rechargeable", "soft bristles", "two minute timer",
                             "travel case", "waterproof"),
     {"color": ("white", "black", "pink", "blue")}),
    ("grocery", "green tea", "Grocery & Gourmet Food › Beverages › Tea › Green",
     "green tea", ("caffeine free", "organic", "gluten free", "non gmo", "individually wrapped"),
     {"flavor name": ("jasmine", "mint", "lemon", "original"),
      "size": ("20 count", "50 count", "100 count")}),
    ("grocery", "coffee beans", "Grocery & Gourmet Food › Beverages › Coffee › Whole Bean",
     "coffee beans", ("dark roast", "fair trade", "arabica", "low acid", "organic"),
     {"size": ("12 ounce", "2 pound", "5 pound"), "flavor name": ("espresso", "french roast",
                                                                  "vanilla")}),
    ("grocery", "protein bars", "Grocery & Gourmet Food › Snack Foods › Bars › Protein",
     "protein bars", ("high protein", "gluten free", "low sugar", "keto friendly", "vegan"),
     {"flavor name": ("chocolate peanut butter", "cookie dough", "birthday cake", "almond"),
      "size": ("pack of 12", "pack of 24")}),
    ("grocery", "beef jerky", "Grocery & Gourmet Food › Meat & Seafood › Jerky",
     "beef jerky", ("high protein", "low fat", "grass fed", "ready to eat", "no preservatives"),
     {"flavor name": ("original", "teriyaki", "peppered", "sweet and spicy"),
      "size": ("3.25 ounce", "10 ounce")}),
    ("grocery", "olive oil", "Grocery & Gourmet Food › Pantry Staples › Oils › Olive",
     "olive oil", ("extra virgin", "cold pressed", "organic", "non gmo", "glass bottle"),
     {"size": ("500 ml", "1 liter", "3 liter")}),
    ("grocery", "dark chocolate", "Grocery & Gourmet Food › Candy & Chocolate › Chocolate",
     "dark chocolate", ("dairy free", "fair trade", "low sugar", "gluten free",
                        "individually wrapped"),
     {"flavor name": ("sea salt", "orange", "mint", "almond"),
      "size": ("3.5 ounce", "pack of 6", "pack of 12")}),
    ("furniture", "office chair", "Home & Kitchen › Furniture › Home Office Furniture › Chairs",
     "office chair", ("lumbar support", "adjustable height", "mesh back", "swivel",
                      "easy assembly", "padded armrests"),
     {"color": ("black", "grey", "white", "blue")}),
    ("furniture", "coffee table", "Home & Kitchen › Furniture › Living Room › Tables",
     "coffee table", ("solid wood", "storage shelf", "easy assembly", "living room",
                      "mid century", "tempered glass"),
     {"color": ("walnut", "espresso", "white", "natural oak"), "size": ("small", "large")}),
    ("furniture", "bookshelf", "Home & Kitchen › Furniture › Home Office Furniture › Bookcases",
     "bookshelf", ("5 tier", "metal frame", "easy assembly", "space saving", "wall anchor"),
     {"color": ("rustic brown", "black", "white"), "size": ("3 tier", "4 tier", "5 tier")}),
    ("furniture", "bed frame", "Home & Kitchen › Furniture › Bedroom › Beds & Frames",
     "bed frame", ("metal platform", "under bed storage", "noise free", "no box spring needed",
                   "easy assembly"),
     {"size": ("twin", "full", "queen", "king"), "color": ("black", "white", "grey")}),
    ("furniture", "ottoman bench", "Home & Kitchen › Furniture › Living Room › Ottomans",
     "ottoman bench", ("storage space", "faux leather", "tufted top", "living room",
                       "space saving"),
     {"color": ("blue", "beige", "dark grey", "pink"), "size": ("small", "large")}),
    ("furniture", "bar stool", "Home & Kitchen › Furniture › Kitchen & Dining › Bar Stools",
     "bar stool", ("adjustable height", "swivel", "footrest", "set of 2", "back support"),
     {"color": ("black", "white", "brown", "green")}),
    ("electronics", "wireless earbuds", "Electronics › Headphones › Earbud Headphones",
     "wireless earbuds", ("noise cancelling", "bluetooth 5.0", "charging case", "water resistant",
                          "long battery life", "built in microphone"),
     {"color": ("black", "white", "navy", "pink")}),
    ("electronics", "phone case", "Cell Phones & Accessories › Cases & Covers",
     "phone case", ("shockproof", "slim fit", "wireless charging compatible", "screen protector",
                    "kickstand"),
     {"color": ("clear", "black", "purple", "mint green", "red"),
      "size": ("iphone 13", "iphone 14", "galaxy s22")}),
    ("electronics", "power bank", "Electronics › Cell Phone Accessories › Chargers & Power",
     "power bank", ("fast charging", "usb c", "high capacity", "led display", "compact"),
     {"size": ("10000mah", "20000mah"), "color": ("black", "white", "blue")}),
    ("electronics", "usb microphone", "Electronics › Musical Instruments › Microphones",
     "usb microphone", ("noise cancelling", "plug and play", "cardioid", "mute button",
                        "tripod stand"),
     {"color": ("black", "silver")}),
    ("electronics", "hdmi cable", "Electronics › Accessories & Supplies › Cables › HDMI",
     "hdmi cable", ("high speed", "4k", "gold plated", "braided nylon", "ethernet"),
     {"size": ("3 feet", "6 feet", "10 feet", "15 feet")}),
    ("electronics", "bluetooth speaker", "Electronics › Portable Audio & Video › Speakers",
     "bluetooth speaker", ("waterproof", "loud sound", "long battery life", "deep bass",
                           "built in microphone"),
     {"color": ("black", "blue", "red", "camo")}),
    ("electronics", "smart watch", "Electronics › Wearable Technology › Smartwatches",
     "smart watch", ("heart rate monitor", "sleep tracking", "water resistant", "gps",
                     "long battery life"),
     {"color": ("black", "silver", "rose gold"), "size": ("40mm", "44mm")}),
    ("electronics", "led desk lamp", "Tools & Home Improvement › Lighting › Lamps › Desk Lamps",
     "desk lamp", ("dimmable", "usb charging port", "eye caring", "touch control",
                   "adjustable arm"),
     {"color": ("white", "black", "silver")}),
)  # fmt: skip

SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "zu", "pe", "lin", "dor", "sa", "qui", "bel",
             "ny", "xo", "fa", "gri", "mo", "ta", "ex")  # fmt: skip
STYLE_WORDS = ("classic", "premium", "everyday", "sport", "deluxe", "essential", "pro", "lite")
INSTRUCTION_TEMPLATES = (
    "i need {noun} that is {a1}",
    "i am looking for {noun} that is {a1} and {a2}",
    "find me {a1} {noun}",
    "i want {a1} {noun} with {a2}",
    "i'm looking for {noun} that is {a1}, {a2} and {a3}",
)
REVIEW_TITLES = ("Great value", "Works as described", "Not what I expected", "Love it",
                 "Decent for the price", "Would buy again")  # fmt: skip


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _asin(rng: random.Random, used: set[str]) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in used:
            used.add(asin)
            return asin


def _price(rng: random.Random) -> str:
    low = round(rng.lognormvariate(3.2, 0.8), 2)
    low = min(max(low, 2.99), 900.0)
    if rng.random() < 1 / 6:
        return f"${low:.2f} - ${low * rng.uniform(1.2, 2.0):.2f}"
    return f"${low:.2f}"


def _instruction(rng: random.Random, noun: str, attributes: list[str]) -> tuple[str, list[str]]:
    template = rng.choice([t for t in INSTRUCTION_TEMPLATES if t.count("{a") <= len(attributes)])
    chosen = rng.sample(attributes, template.count("{a"))
    fields = {f"a{i + 1}": a for i, a in enumerate(chosen)}
    return template.format(noun=noun, **fields), sorted(set(chosen))


def generate_product(rng: random.Random, used: set[str]) -> tuple[dict, dict]:
    """One raw product record and its attribute record."""
    category, query, path, noun, pool, groups = rng.choice(PRODUCT_TYPES)
    asin, brand = _asin(rng, used), _brand(rng)
    attributes = rng.sample(pool, rng.randint(2, min(4, len(pool))))
    names = rng.sample(sorted(groups), rng.randint(1, min(2, len(groups))))
    options = {}
    for name in sorted(names):
        values = rng.sample(groups[name], rng.randint(2, min(4, len(groups[name]))))
        options[name.title()] = [{"value": v.title() if name == "color" else v} for v in values]
    title_attributes = " ".join(a.title() for a in attributes[: rng.randint(1, 2)])
    title = f"{brand} {rng.choice(STYLE_WORDS).title()} {noun.title()}, {title_attributes}"
    description = (
        f"The {brand} {noun} is made for everyday use. It is {attributes[0]}"
        + (f" and {attributes[1]}" if len(attributes) > 1 else "")
        + f". Backed by the {brand} satisfaction promise."
    )
    bullets = [f"{a.upper()}: a {noun} that is {a}." for a in attributes]
    bullets.append(f"WHAT YOU GET: one {noun} from {brand}.")
    reviews = [
        {
            "title": rng.choice(REVIEW_TITLES),
            "score": (score := rng.randint(1, 5)),
            "body": f"{'Happy' if score >= 4 else 'Unsure'} with this {noun}.",
        }
        for _ in range(rng.randint(0, 3))
    ]
    rating = round(sum(r["score"] for r in reviews) / len(reviews), 1) if reviews else "N.A."
    instruction, instruction_attributes = _instruction(rng, noun, attributes)
    item = {
        "asin": asin,
        "name": title,
        "full_description": description,
        "small_description": bullets,
        "pricing": _price(rng),
        "images": ["/static/no-image.svg"],
        "category": category,
        "query": query,
        "product_category": path,
        "customization_options": options,
        "brand": brand,
        "reviews": reviews,
        "average_rating": rating,
    }
    record = {
        "attributes": attributes,
        "instruction": instruction,
        "instruction_attributes": instruction_attributes,
    }
    return item, record


def generate_records(num_products: int, seed: int = 0) -> tuple[list[dict], dict[str, dict]]:
    """``(items, attributes)``: the contents of ``items_shuffle.json`` and ``items_ins_v2.json``."""
    if not MIN_PRODUCTS <= num_products <= MAX_PRODUCTS:
        raise ValueError(
            f"num_products={num_products} is out of range [{MIN_PRODUCTS}, {MAX_PRODUCTS}]"
        )
    rng, used = random.Random(seed), set()
    items, attributes = [], {}
    for _ in range(num_products):
        item, record = generate_product(rng, used)
        items.append(item)
        attributes[item["asin"]] = record
    return items, attributes


def write_catalogue(folder: str | Path, num_products: int, seed: int = 0) -> Path:
    """Write ``items_shuffle.json`` and ``items_ins_v2.json`` into ``folder``; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items, attributes = generate_records(num_products, seed)
    (folder / "items_shuffle.json").write_text(json.dumps(items))
    (folder / "items_ins_v2.json").write_text(json.dumps(attributes))
    return folder
