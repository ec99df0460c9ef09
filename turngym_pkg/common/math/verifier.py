r"""Rule-based math verification: a response's final answer against a gold answer, with
math-verify's LaTeX/expression parsing and sympy equivalence.

``verify_answer(response, gold)`` extracts the final slot (:mod:`.answers`: the last
``\boxed{}``, ``#### N`` or ``<answer>`` tag, configurable, anti-spraying rules), normalizes
both sides (percentages, units, thousands separators), parses each as ``\boxed{...}`` LaTeX and
asks math-verify whether they are equal. It returns a :class:`Verdict`: 1 or 0 and a reason.

**Timeouts.** math-verify's own timeouts use ``signal.alarm`` and so only work in a process's
main thread. Here they are switched off and one alarm (``signal.setitimer``) covers the whole
item, parse and comparison: a pathological expression scores 0 with the reason ``timeout`` and
``Verdict.timed_out``. Off the main thread no alarm can be set: use the
:class:`~turngym.common.math.pool.VerifierPool`, whose workers call this in their main thread.

**Numeric tolerance** is math-verify's (``float_rounding=6``), except that two integers compare
exactly (a fast path: no sympy): a decimal equals a rational gold
when it agrees to 6 decimal places (1/3 = 0.333333, 1/3 != 0.3333); there is no relative
tolerance (42 != 41.9999999); a symbolic constant is not equal to a decimal approximation of it
(``\pi`` != 3.14159, ``\sqrt{2}`` != 1.41421).

**Countdown** problems (:mod:`.generators`) are checked by their own rule, :func:`check_countdown`:
the final answer is an arithmetic expression that uses each given number at most once and
evaluates to the target.
"""

from __future__ import annotations

import ast
import functools
import logging
import re
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .answers import DEFAULT_FORMATS, extract_answer, normalize_answer

#: seconds one verification may take before it scores 0 as a timeout
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Verdict:
    """The verifier's answer: ``score`` is 1.0 (correct) or 0.0, ``reason`` says why."""

    score: float
    reason: str
    answer: str | None = None  # the extracted final answer
    timed_out: bool = False

    @property
    def correct(self) -> bool:
        return self.score == 1.0


@dataclass(frozen=True)
class VerifyItem:
    """One thing to verify: a response against a gold answer.

    ``checker`` is ``math`` (math-verify equivalence) or ``countdown`` (``gold`` is the target,
    ``numbers`` the numbers that may be used).
    """

    response: str
    gold: str
    checker: str = "math"
    numbers: tuple[int, ...] = ()
    formats: tuple[str, ...] = DEFAULT_FORMATS


class VerificationTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` swallows it."""


def _on_alarm(signum, frame):  # noqa: ANN001 (signal handler signature)
    raise VerificationTimeout()


def verify_item(item: VerifyItem, timeout: float | None = DEFAULT_TIMEOUT) -> Verdict:
    """Verify one item in this thread; with ``timeout``, under one alarm (main thread only)."""
    warm_up()
    if timeout is None or timeout <= 0:
        return _verify(item)
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "verify_item with a timeout needs the main thread (signal.alarm); use a "
            "VerifierPool, or timeout=None"
        )
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return _verify(item)
    except VerificationTimeout:
        return Verdict(0.0, f"timeout after {timeout:g} s", timed_out=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_warm = False


def warm_up() -> None:
    """Import math-verify and sympy and verify one answer, with no alarm: an alarm that fires
    during an import leaves half-initialized modules behind, which break every later call."""
    global _warm
    if not _warm:
        _warm = True
        equivalent("0.5", r"\frac{1}{2}")


def verify_answer(
    response: str,
    gold: str,
    formats: Sequence[str] = DEFAULT_FORMATS,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Verdict:
    r"""1 if the final answer of ``response`` equals ``gold``, else 0, with the reason.

    >>> verify_answer(r"<think>2+2</think><answer>\frac{8}{2}</answer>", "4").score
    1.0
    """
    return verify_item(VerifyItem(response, gold, formats=tuple(formats)), timeout)


def _verify(item: VerifyItem) -> Verdict:
    if not isinstance(item.response, str):
        return Verdict(0.0, f"response is not text ({type(item.response).__name__})")
    same = _same_number if item.checker == "countdown" else (lambda a, b: equivalent(b, a))
    extraction = extract_answer(item.response, item.formats, same)
    if extraction.answer is None:
        return Verdict(0.0, extraction.reason)
    if item.checker == "countdown":
        return check_countdown(extraction.answer, int(item.gold), item.numbers)
    if item.checker != "math":
        raise ValueError(f"unknown checker {item.checker!r}; choose 'math' or 'countdown'")
    equal = equivalent(item.gold, extraction.answer)
    return Verdict(float(equal), "correct" if equal else "wrong answer", extraction.answer)


def parse_math(answer: str) -> list:
    r"""math-verify's parse of one answer (normalized, then read as ``\boxed{...}`` LaTeX; a
    plain expression such as ``3/4`` or ``x**2`` parses too)."""
    return _parse_normalized(normalize_answer(answer))


@functools.lru_cache(maxsize=4096)  # a group of G replies shares one gold answer
def _parse_normalized(text: str) -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    parsed = parse("\\boxed{" + text + "}", configs, parsing_timeout=None)
    return parsed or parse(text, [ExprExtractionConfig()], parsing_timeout=None)


def equivalent(gold: str, answer: str) -> bool:
    """Whether two answers are the same under the normalization policy and math-verify."""
    from math_verify import verify

    normalized, given = normalize_answer(gold), normalize_answer(answer)
    if normalized and normalized == given:
        return True
    if _INTEGER.fullmatch(normalized) and _INTEGER.fullmatch(given):
        return int(normalized) == int(given)  # exact; math-verify would agree (and is slower)
    if _WORDS.fullmatch(normalized):  # a word answer (\text{east}): the text decides
        return False
    parsed_gold, parsed_answer = parse_math(gold), parse_math(answer)
    if not parsed_gold or not parsed_answer:
        return False
    return bool(verify(parsed_gold, parsed_answer, timeout_seconds=None))


_WORDS = re.compile(r"[a-z][a-z ]*[a-z]")
_INTEGER = re.compile(r"[-+]?\d{1,15}")


def _same_number(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)


# math-verify warns once that its own timeouts are off: here one alarm covers each item
logging.getLogger("math_verify").setLevel(logging.ERROR)


# -- Countdown --------------------------------------------------------------------------------
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Add, ast.Sub,
                  ast.Mult, ast.Div, ast.USub, ast.UAdd)  # fmt: skip


def check_countdown(expression: str, target: int, numbers: Sequence[int]) -> Verdict:
    r"""1 if ``expression`` (``+ - * /`` and parentheses over integers; ``\times``, ``\div``
    and ``=`` target accepted) uses each of ``numbers`` at most as often as given and equals
    ``target`` exactly (rational arithmetic), else 0 with the reason."""
    text = expression.replace("\\times", "*").replace("\\div", "/").replace("×", "*")
    text = text.replace("÷", "/").replace("\\cdot", "*").replace("$", "").strip()
    text = text.split("=")[0].strip()  # "3*8 = 24": the left side is the expression
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return Verdict(0.0, "not an arithmetic expression", expression)
    if not all(isinstance(node, _ALLOWED_NODES) for node in ast.walk(tree)):
        return Verdict(0.0, "only + - * / ( ) and integers are allowed", expression)
    used = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in used):
        return Verdict(0.0, "only integers are allowed", expression)
    available = list(numbers)
    for value in used:
        if value not in available:
            return Verdict(0.0, f"{value} is not among the numbers left", expression)
        available.remove(value)
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError:
        return Verdict(0.0, "division by zero", expression)
    if value != target:
        return Verdict(0.0, f"evaluates to {value}, not {target}", expression)
    return Verdict(1.0, "correct", expression)


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    left, right = _evaluate(node.left), _evaluate(node.right)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    return left / right
