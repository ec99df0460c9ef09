"""Reading a player's free text: normalisation, what counts as a question, and the thing a guess
names.

A *question* starts with a yes/no auxiliary ("is", "does", "can", ...; at least two words) or,
where open questions are allowed, with a question word ("what", "which", "how", ...). A *guess*
is recognised by stripping one guessing phrase ("is it", "my guess is", "it's", ...) and an
article from the normalised text: "Is it a cat?", "cat", "a cat" and "CAT." all leave "cat".
"""

from __future__ import annotations

import re

YES_NO_OPENERS = frozenset(
    "is are am was were does do did can could will would should shall may might has have had "
    "isn aren wasn weren doesn don didn couldn won wouldn shouldn hasn haven hadn".split()
)  # fmt: skip
OPEN_OPENERS = frozenset("what which where how who when why whose tell describe name".split())
#: phrases that introduce a guess, longest first
GUESS_PHRASES = tuple(sorted(
    ("is it", "it is", "it s", "is this", "is the object", "the object is", "is the city",
     "the city is", "is your city", "is your object", "are you thinking of", "my guess is",
     "i guess", "guess", "the answer is", "i think it is", "i think it s", "my answer is",
     "final answer", "answer", "could it be", "is it the city of", "is the answer"),
    key=len, reverse=True,
))  # fmt: skip
ARTICLES = ("a ", "an ", "the ", "some ")


def normalize(text: str) -> str:
    """Lower case, every character that is not a letter or digit a space, spaces collapsed."""
    return " ".join(re.sub(r"[^\w]|_", " ", text.lower()).split())


def is_question(text: str, open_questions: bool = False) -> bool:
    """Whether normalised ``text`` reads as a question (see the module docstring)."""
    words = text.split()
    if len(words) < 2:
        return False
    return words[0] in YES_NO_OPENERS or (open_questions and words[0] in OPEN_OPENERS)


def guess_phrase(text: str) -> tuple[str, bool]:
    """What normalised ``text`` would be guessing, and whether a guessing phrase introduced it
    ("is it a big cat" -> ("big cat", True); "cat" -> ("cat", False))."""
    introduced = False
    for phrase in GUESS_PHRASES:
        if text == phrase or text.startswith(phrase + " "):
            text, introduced = text[len(phrase) :].strip(), True
            break
    for article in ARTICLES:
        if text.startswith(article):
            text = text[len(article) :]
            break
    return text, introduced


def singular(word: str) -> list[str]:
    """``word`` and the forms it may be the plural of ("boxes" -> box, "cats" -> cat)."""
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms
