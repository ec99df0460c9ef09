"""Math with rule-based verifiers: answer extraction and normalization (:mod:`.answers`), the
math-verify based verifier (:mod:`.verifier`), its process pool (:mod:`.pool`), problem sources
(:mod:`.problems`, :mod:`.generators`). Imports nothing of turngym above ``common``; math-verify
is imported when the first answer is verified."""

from .answers import ANSWER_FORMATS, DEFAULT_FORMATS, Extraction, extract_answer, normalize_answer
from .pool import VerifierPool, verify_anywhere
from .verifier import (
    DEFAULT_TIMEOUT,
    Verdict,
    VerifyItem,
    check_countdown,
    equivalent,
    verify_answer,
    verify_item,
)

__all__ = [
    "ANSWER_FORMATS",
    "DEFAULT_FORMATS",
    "DEFAULT_TIMEOUT",
    "Extraction",
    "Verdict",
    "VerifierPool",
    "VerifyItem",
    "check_countdown",
    "equivalent",
    "extract_answer",
    "normalize_answer",
    "verify_anywhere",
    "verify_answer",
    "verify_item",
]
