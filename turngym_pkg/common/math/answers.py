r"""Which part of a response is its final answer, and how that answer is written down before
it is compared (the extraction and normalization policy of turngym's math verifier).

**The final slot.** A response answers in one of these forms, tried in the configured order
(default ``answer_tag, boxed, hash``); the first form present is the final slot:

- ``answer_tag``: ``<answer>...</answer>`` (a ``\boxed{}`` inside it is unwrapped);
- ``boxed``: ``\boxed{...}`` (or ``\fbox{...}``);
- ``hash``: ``#### N`` (GSM8K's convention; the rest of that line);
- ``bare``: the whole response is the answer (for an environment whose action slot already is
  the final slot, e.g. ``<action>42</action>``).

``<think>...</think>`` blocks are removed first: reasoning is never an answer.

**Anti-spraying.** A response must commit to one answer, else it scores 0:

- two or more *different* answers in the chosen form (``\boxed{41} ... \boxed{42}``, two
  ``<answer>`` tags, two ``####`` lines) -> ``several answers``; the same answer repeated is
  one answer;
- a slot that offers alternatives (``42 or 43``, ``42 / 43?``) -> ``several answers``;
- a list in the slot (``1, 2, 42``) is one answer, compared as a whole: a set is not a number;
- an answer that appears only in the reasoning, with no final slot -> ``no final answer``.

**Normalization** (applied to the gold and the prediction alike):

- *percentages*: the percent sign is a unit and is dropped: ``50\%`` = ``50%`` = ``50``; a
  fraction is not a percentage (``50\%`` != ``0.5``);
- *units and currency*: ``\$``, ``$``, ``\text{...}`` and unit words after a number are dropped
  (``\$18``, ``18 dollars``, ``5\text{ cm}`` -> ``18``, ``18``, ``5``);
- *thousands separators*: digits grouped by three with ``,``, ``{,}``, ``\,``, ``\!`` or a
  space are one number (``1,000`` = ``1{,}000`` = ``1\,000`` = ``1 000`` = ``1000``); other
  commas separate list items (``1,5`` is the list 1, 5);
- *scientific notation*: ``1e6`` / ``1.5E-3`` -> ``1\times10^{6}`` / ``1.5\times10^{-3}``;
- a trailing full stop is dropped (``42.`` -> ``42``).

Numeric tolerance is math-verify's, unchanged (see :mod:`turngym.common.math.verifier`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: every final-slot form, in the default order of preference
ANSWER_FORMATS = ("answer_tag", "boxed", "hash", "bare")
DEFAULT_FORMATS = ("answer_tag", "boxed", "hash")

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_HASH = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ALTERNATIVES = re.compile(r"\s(?:or)\s|\?\s*$|\\(?:text|mbox)\{\s*or\s*\}", re.IGNORECASE)


@dataclass(frozen=True)
class Extraction:
    """The final answer of a response (``None`` when there is none) and why."""

    answer: str | None
    reason: str


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` as a tuple, or a ValueError naming the unknown ones."""
    if isinstance(formats, str):
        formats = (formats,)
    unknown = [f for f in formats if f not in ANSWER_FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"unknown answer formats {unknown or formats!r}; choose from {ANSWER_FORMATS}"
        )
    return tuple(formats)


def boxed_contents(text: str) -> list[str]:
    r"""The contents of every ``\boxed{...}`` / ``\fbox{...}`` in ``text``, braces balanced."""
    found = []
    for match in _BOX_COMMAND.finditer(text):
        depth, start = 1, match.end()
        for position in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            if depth == 0:
                found.append(text[start:position])
                break
    return found


def _slot_candidates(text: str, form: str) -> list[str]:
    if form == "answer_tag":
        return [_unbox(m) for m in _ANSWER_TAG.findall(text)]
    if form == "boxed":
        return boxed_contents(text)
    if form == "hash":
        return _HASH.findall(text)
    return [text] if text.strip() else []  # bare


def _unbox(text: str) -> str:
    inner = boxed_contents(text)
    return inner[-1] if len(inner) == 1 else text


def _same_text(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)


def extract_answer(
    response: str,
    formats: Sequence[str] = DEFAULT_FORMATS,
    same: Callable[[str, str], bool] = _same_text,
) -> Extraction:
    """The final answer of ``response`` under the policy of this module's docstring.
    ``same`` decides whether two answers in the chosen form are one answer written twice
    (default: the same text once normalized; the verifier passes mathematical equivalence, so
    that ``\\boxed{15\\frac{39}{40}}, or \\boxed{\\frac{639}{40}}`` is one answer).

    >>> extract_answer("<think>maybe 41</think><answer>42</answer>").answer
    '42'
    >>> extract_answer(r"\\boxed{41} no wait \\boxed{42}").reason
    'several answers in boxed'
    """
    text = _THINK.sub("", response)
    for form in check_formats(formats):
        candidates = [c.strip() for c in _slot_candidates(text, form)]
        if not candidates:
            continue
        if any(not same(c, candidates[-1]) for c in candidates[:-1]):
            return Extraction(None, f"several answers in {form}")
        answer = candidates[-1]
        if not answer:
            return Extraction(None, f"empty {form}")
        if _ALTERNATIVES.search(answer):
            return Extraction(None, f"several answers in {form}")
        return Extraction(answer, form)
    return Extraction(None, "no final answer")


# -- normalization ------------------------------------------------------------------------------
_PERCENT = re.compile(r"\\%|%|\\text\{\s*\\?%\s*\}|\s*\\?(?:text\{)?\s*percent\}?", re.IGNORECASE)
_CURRENCY = re.compile(r"\\\$|\$|\\text\{\s*\\?\$\s*\}|\\(?:dollar|euro|pounds?)\b")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:(?:,|\{,\}|\\,|\\!|\\ | )\d{3})+(?![\d])")
_SEPARATOR = re.compile(r",|\{,\}|\\,|\\!|\\ | ")
_NUMBER_WITH_WORDS = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:[a-zA-Z][a-zA-Z. ]*(?:\^?[23])?)\s*\.?\s*$"
)
_TEXT_UNIT = re.compile(
    r"(?<=[\d}])\s*\\(?:text|mbox|mathrm)\{\s*[a-zA-Z][a-zA-Z .]*\}(?:\^\{?[23]\}?)?"
)
_WHOLE_TEXT = re.compile(r"^\\(?:text|textbf|mbox|mathrm)\{([^{}]*)\}$")
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w.])")
_DISPLAY_MATH = re.compile(r"^\$+(.*?)\$+$|^\\\((.*?)\\\)$|^\\\[(.*?)\\\]$", re.DOTALL)


def normalize_answer(answer: str) -> str:
    r"""An answer written the way the verifier compares it (the policy in the module docstring).

    >>> normalize_answer(r"\$1{,}000 dollars.")
    '1000'
    >>> normalize_answer(r"50\%")
    '50'
    """
    text = answer.strip()
    display = _DISPLAY_MATH.match(text)
    if display:
        text = next(g for g in display.groups() if g is not None).strip()
    text = _CURRENCY.sub("", text)
    text = _PERCENT.sub("", text)
    text = _THOUSANDS.sub(lambda m: _SEPARATOR.sub("", m.group(0)), text)
    text = _TEXT_UNIT.sub("", text)
    words = _NUMBER_WITH_WORDS.match(text)
    if words:
        text = words.group(1)
    text = _SCIENTIFIC.sub(r"\1\\times10^{\2}", text)
    text = text.strip()
    whole_text = _WHOLE_TEXT.match(text)
    if whole_text:  # a word answer (\text{Evelyn}): compared as lower-case text
        text = whole_text.group(1).strip().lower()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text
