"""The knowledge base of ``turngym/TwentyQuestions-v0``: 53 everyday objects and 44 yes/no
attributes, and the rule oracle that answers questions about them.

Each attribute has a canonical question (the environment's suggested questions), and phrases
that recognise it in free text (regular expressions over the normalised question: lower case,
punctuation as spaces). An attribute holds for the objects listed under it in :data:`OBJECTS`;
``kitchen`` implies ``indoors``. "Alive" means a living plant or animal: food is not alive.
"big" is the classic "bigger than a breadbox", "small" is "fits in your hand".

How :func:`answer_question` answers (the oracle's grammar):

- every attribute whose phrases occur in the question is looked up; with one, the answer is
  "Yes." or "No."; with several, their conjunction ("Is it an animal that can fly?"), or their
  disjunction when the question says "or" ("Is it a fruit or a vegetable?");
- a "not" or "n't" in the question flips the answer ("Isn't it alive?" about a cat: "No.");
- a question none of whose words name an attribute gets "I don't know." (the turn still counts).
"""

# ruff: noqa: E501  (fact tables: one row a line reads better than wrapped rows)

from __future__ import annotations

import re

#: attribute -> (canonical question, phrases that recognise it)
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "alive": ("Is it alive?", r"alive|living"),
    "animal": ("Is it an animal?", r"animals?|creatures?"),
    "mammal": ("Is it a mammal?", r"mammals?"),
    "bird": ("Is it a bird?", r"birds?|feathers?"),
    "insect": ("Is it an insect?", r"insects?|bugs?"),
    "plant": ("Is it a plant?", r"plants?|vegetation"),
    "food": ("Can you eat it?", r"food|edible|eat|eaten"),
    "fruit": ("Is it a fruit?", r"fruits?"),
    "vegetable": ("Is it a vegetable?", r"vegetables?"),
    "manmade": ("Is it man-made?", r"man made|manmade|artificial|human made|made by (?:people|humans)"),
    "electronic": ("Does it use electricity?", r"electronic|electric|electrical|electricity|batter(?:y|ies)|plug(?:ged)? in"),
    "metal": ("Is it made of metal?", r"metal|metallic|steel|iron"),
    "wood": ("Is it made of wood?", r"wood|wooden"),
    "fabric": ("Is it made of fabric?", r"fabric|cloth|cotton|textile"),
    "big": ("Is it bigger than a breadbox?", r"bigger than|larger than|big|large|huge"),
    "small": ("Does it fit in your hand?", r"small|tiny|little|handheld|fits? in (?:your|a|the|one) (?:hand|pocket)"),
    "indoors": ("Is it found in a house?", r"indoors?|inside|in (?:a|the|your) (?:house|home)|at home|household"),
    "kitchen": ("Is it found in a kitchen?", r"kitchen|cooking"),
    "legs": ("Does it have legs?", r"legs?"),
    "fly": ("Can it fly?", r"fly|flies|flying|wings?"),
    "water": ("Is it found in water?", r"swims?|swimming|in (?:the )?water|ocean|sea|aquatic|floats?"),
    "wheels": ("Does it have wheels?", r"wheels?"),
    "vehicle": ("Is it a vehicle?", r"vehicles?|transport|transportation|ride (?:it|in it|on it)|drive it"),
    "tool": ("Is it a tool?", r"tools?"),
    "furniture": ("Is it furniture?", r"furniture"),
    "sit": ("Can you sit on it?", r"sit (?:on|in) it"),
    "clothing": ("Can you wear it?", r"clothing|clothes|wear it|wear them|wearable|garment"),
    "instrument": ("Is it a musical instrument?", r"instruments?|musical|make music|play it"),
    "head": ("Does it go on your head?", r"head|heads"),
    "pet": ("Is it a pet?", r"pets?"),
    "sharp": ("Is it sharp?", r"sharp|blade|cut|cuts|cutting"),
    "soft": ("Is it soft?", r"soft"),
    "fur": ("Does it have fur?", r"fur|furry|hair|hairy"),
    "round": ("Is it round?", r"round|spherical|circular"),
    "toy": ("Do people play with it?", r"toys?|sports?|games?|play with"),
    "read": ("Do you read it?", r"read|reading"),
    "write": ("Is it used for writing?", r"write|writing"),
    "outdoors": ("Is it found outdoors?", r"outdoors?|outside"),
    "dangerous": ("Is it dangerous?", r"dangerous|bite|bites|harmful|harm"),
    "heavy": ("Is it heavy?", r"heavy|heavier"),
    "container": ("Is it a container?", r"containers?|hold (?:things|liquids?|water|drinks)"),
    "noise": ("Does it make noise?", r"noise|noises|sound|sounds|loud"),
    "sweet": ("Is it sweet?", r"sweet"),
    "screen": ("Does it have a screen?", r"screens?|display"),
}  # fmt: skip

#: object -> its attributes (every other attribute is false)
OBJECTS: dict[str, str] = {
    "cat": "alive animal mammal legs pet soft fur indoors noise",
    "dog": "alive animal mammal legs pet soft fur indoors outdoors noise big",
    "horse": "alive animal mammal legs fur outdoors big heavy noise",
    "cow": "alive animal mammal legs outdoors big heavy noise",
    "elephant": "alive animal mammal legs outdoors big heavy noise dangerous",
    "mouse": "alive animal mammal legs fur small outdoors",
    "eagle": "alive animal bird legs fly outdoors dangerous",
    "penguin": "alive animal bird legs water outdoors",
    "shark": "alive animal water outdoors big dangerous",
    "goldfish": "alive animal water pet small indoors",
    "snake": "alive animal outdoors dangerous",
    "frog": "alive animal legs water small outdoors noise",
    "bee": "alive animal insect legs fly small outdoors dangerous noise",
    "rose": "alive plant outdoors small",
    "tree": "alive plant wood outdoors big heavy",
    "cactus": "alive plant outdoors sharp",
    "apple": "food fruit small round sweet kitchen",
    "banana": "food fruit small sweet kitchen",
    "carrot": "food vegetable small kitchen",
    "bread": "food manmade kitchen soft",
    "cheese": "food manmade kitchen",
    "egg": "food small round kitchen",
    "car": "manmade metal vehicle wheels big heavy outdoors noise",
    "bicycle": "manmade metal vehicle wheels big outdoors",
    "airplane": "manmade metal vehicle fly big heavy outdoors noise electronic",
    "boat": "manmade vehicle water big heavy outdoors",
    "train": "manmade metal vehicle wheels big heavy outdoors noise electronic",
    "hammer": "manmade metal wood tool",
    "knife": "manmade metal tool sharp kitchen small dangerous",
    "scissors": "manmade metal tool sharp small indoors",
    "spoon": "manmade metal kitchen small",
    "cup": "manmade kitchen small container",
    "chair": "manmade wood furniture legs sit indoors big",
    "table": "manmade wood furniture legs indoors big heavy",
    "bed": "manmade furniture sit soft indoors big heavy legs",
    "lamp": "manmade electronic furniture indoors",
    "television": "manmade electronic screen indoors big noise",
    "phone": "manmade electronic screen small noise",
    "laptop": "manmade electronic screen indoors",
    "clock": "manmade electronic indoors noise round",
    "guitar": "manmade wood instrument noise big",
    "piano": "manmade wood instrument noise big heavy indoors legs",
    "drum": "manmade instrument noise round",
    "ball": "manmade round toy outdoors",
    "book": "manmade read indoors",
    "pencil": "manmade wood write small",
    "shirt": "manmade fabric clothing soft",
    "shoe": "manmade clothing",
    "hat": "manmade fabric clothing soft head",
    "umbrella": "manmade metal fabric outdoors",
    "key": "manmade metal small",
    "pillow": "manmade fabric soft indoors",
    "bottle": "manmade container small",
}

#: other names a guess may use for an object (plurals are recognised on their own)
ALIASES: dict[str, str] = {
    "kitty": "cat", "kitten": "cat", "puppy": "dog", "mice": "mouse", "bees": "bee",
    "rosebush": "rose", "plane": "airplane", "aeroplane": "airplane", "jet": "airplane",
    "bike": "bicycle", "automobile": "car", "ship": "boat", "knives": "knife", "mug": "cup",
    "tv": "television", "telephone": "phone", "cellphone": "phone", "cell phone": "phone",
    "smartphone": "phone", "mobile phone": "phone", "laptop computer": "laptop",
    "computer": "laptop", "notebook computer": "laptop", "t shirt": "shirt", "tshirt": "shirt",
    "cap": "hat", "shoes": "shoe", "goldfishes": "goldfish", "pen": "pencil",
}  # fmt: skip

_PATTERNS = {name: re.compile(rf"\b(?:{phrases})\b") for name, (_, phrases) in ATTRIBUTES.items()}
_NEGATION = re.compile(r"\bnot\b|n t\b")


def has_attribute(obj: str, attribute: str) -> bool:
    """Whether ``attribute`` holds for ``obj`` (``kitchen`` things are also ``indoors``)."""
    facts = OBJECTS[obj].split()
    return attribute in facts or (attribute == "indoors" and "kitchen" in facts)


def attributes_named(question: str) -> list[str]:
    """The attributes a normalised question names, in :data:`ATTRIBUTES` order."""
    return [name for name, pattern in _PATTERNS.items() if pattern.search(question)]


def answer_question(obj: str, question: str) -> tuple[str, str | None]:
    """The oracle's answer to a normalised yes/no ``question`` about ``obj`` (see the module
    docstring), and the fact it reveals (``"attr=yes"``, ``"attr|attr=no"``; ``None`` for
    "I don't know.")."""
    named = attributes_named(question)
    if not named:
        return "I don't know.", None
    values = [has_attribute(obj, name) for name in named]
    either = re.search(r"\bor\b", question) is not None
    yes = any(values) if either else all(values)
    if _NEGATION.search(question):
        yes = not yes
    joiner = "/" if either else "&"
    negated = "!" if _NEGATION.search(question) else ""
    return ("Yes." if yes else "No."), f"{negated}{joiner.join(named)}={'yes' if yes else 'no'}"
