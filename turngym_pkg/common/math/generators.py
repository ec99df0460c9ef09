"""Procedural math problems that need no data: seeded by the task id, with difficulty knobs.

Each generator makes :class:`~turngym.common.math.problems.Problem` ``task_id`` from a random
stream seeded by (task id, the generator's salt), so the same id is the same problem everywhere
(rollouts of a group, evaluation, the ``math`` scorer). Every problem carries a worked solution
in DeepSeek-R1's format, ``<think>steps</think><answer>N</answer>``: the expert of the math
environments and the demonstrations of a behaviour-cloning warm start.

- :class:`Arithmetic`: ``What is 7 + 12 * 3?`` (``digits``, ``terms``, ``operations``);
- :class:`LinearEquation`: ``Solve for x: 3x + 5 = 20.`` (``max_coefficient``,
  ``max_solution``, ``negative``);
- :class:`Countdown`: reach a target with the given numbers and ``+ - * /``, each number at most
  once (``num_numbers``, ``max_number``); checked by expression, not by a gold value.
"""

from __future__ import annotations

import random
from fractions import Fraction

from .problems import Problem


class _Generator:
    num_tasks = None  # any task id >= 0
    salt = 0

    def rng(self, task_id: int) -> random.Random:
        if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 0:
            raise ValueError(f"task_id must be an int >= 0, got {task_id!r}")
        return random.Random(task_id * 1_000_003 + self.salt)


def _worked(steps: list[str], answer: str) -> str:
    return f"<think>{', '.join(steps)}</think><answer>{answer}</answer>"


class Arithmetic(_Generator):
    """``What is a op b op c?`` with integers of 1 to ``digits`` digits.

    Args:
        digits: largest operand size in digits (1: 0-9).
        terms: operands per problem (2 or more).
        operations: the operators drawn from, a subset of ``+-*``.
    """

    salt = 11

    def __init__(self, digits: int = 1, terms: int = 2, operations: str = "+-"):
        if digits < 1 or terms < 2 or not operations or set(operations) - set("+-*"):
            raise ValueError(
                f"need digits >= 1, terms >= 2 and operations within '+-*'; got digits={digits},"
                f" terms={terms}, operations={operations!r}"
            )
        self.digits, self.terms, self.operations = digits, terms, operations

    def problem(self, task_id: int) -> Problem:
        rng = self.rng(task_id)
        numbers = [rng.randint(0, 10**self.digits - 1) for _ in range(self.terms)]
        operators = [rng.choice(self.operations) for _ in range(self.terms - 1)]
        text = " ".join(
            [str(numbers[0])] + [f"{o} {n}" for o, n in zip(operators, numbers[1:], strict=True)]
        )
        steps, value = _evaluate_with_steps(numbers, operators)
        return Problem(f"What is {text}?", str(value), _worked(steps, str(value)),
                       kind="arithmetic", level=self.digits)  # fmt: skip


def _evaluate_with_steps(numbers: list[int], operators: list[str]) -> tuple[list[str], int]:
    """Products first, then sums left to right; each step written ``a op b = c``."""
    steps: list[str] = []
    values, pending = [numbers[0]], []
    for operator, number in zip(operators, numbers[1:], strict=True):
        if operator == "*":
            product = values[-1] * number
            steps.append(f"{values[-1]}*{number}={product}")
            values[-1] = product
        else:
            pending.append(operator)
            values.append(number)
    total = values[0]
    for operator, number in zip(pending, values[1:], strict=True):
        result = total + number if operator == "+" else total - number
        steps.append(f"{total}{operator}{number}={result}")
        total = result
    return steps, total


class LinearEquation(_Generator):
    """``Solve for x: a x + b = c.`` with an integer solution.

    Args:
        max_coefficient: a is drawn from 1..max_coefficient (2..: no trivial a = 1 when > 1).
        max_solution: |x| <= max_solution.
        negative: whether x and b may be negative.
    """

    salt = 23

    def __init__(self, max_coefficient: int = 9, max_solution: int = 20, negative: bool = True):
        if max_coefficient < 1 or max_solution < 1:
            raise ValueError("max_coefficient and max_solution must be >= 1")
        self.max_coefficient, self.max_solution, self.negative = (
            max_coefficient, max_solution, negative,
        )  # fmt: skip

    def problem(self, task_id: int) -> Problem:
        rng = self.rng(task_id)
        low = -self.max_solution if self.negative else 0
        a = rng.randint(min(2, self.max_coefficient), self.max_coefficient)
        x = rng.randint(low, self.max_solution)
        b = rng.randint(low, self.max_solution)
        c = a * x + b
        sign, magnitude = ("+", b) if b >= 0 else ("-", -b)
        question = f"Solve for x: {a}x {sign} {magnitude} = {c}."
        steps = [f"{a}x={c}{'-' if b >= 0 else '+'}{abs(b)}={c - b}", f"x={c - b}/{a}={x}"]
        return Problem(question, str(x), _worked(steps, str(x)), kind="linear",
                       level=self.max_coefficient)  # fmt: skip


class Countdown(_Generator):
    """``Using the numbers [a, b, c], make T`` (the Countdown game; TinyZero's version requires
    every number exactly once, this one at most once, as the question says): a random
    expression over the numbers makes the target, so every problem has a solution.

    Args:
        num_numbers: how many numbers are given (2 or more).
        max_number: numbers are drawn from 1..max_number.
    """

    salt = 37

    def __init__(self, num_numbers: int = 3, max_number: int = 20):
        if num_numbers < 2 or max_number < 2:
            raise ValueError("num_numbers and max_number must be >= 2")
        self.num_numbers, self.max_number = num_numbers, max_number

    def problem(self, task_id: int) -> Problem:
        rng = self.rng(task_id)
        while True:
            numbers = [rng.randint(1, self.max_number) for _ in range(self.num_numbers)]
            expression, value = str(numbers[0]), Fraction(numbers[0])
            for number in numbers[1:]:
                operator = rng.choice("+-*/")
                if operator == "/" and value % number:
                    operator = "+"
                value = {"+": value + number, "-": value - number, "*": value * number,
                         "/": value / number}[operator]  # fmt: skip
                expression = (
                    f"({expression}){operator}{number}"
                    if operator in "*/" and any(o in expression for o in "+-")
                    else f"{expression}{operator}{number}"
                )
            if value.denominator == 1 and value > 0:
                break
        target = int(value)
        shown = sorted(numbers)
        question = (
            f"Using the numbers {shown}, create an equation that equals {target}. You may use "
            "+, -, * and / and each number at most once. Give the expression as the answer."
        )
        solution = _worked([f"{expression}={target}"], expression)
        return Problem(question, str(target), solution, checker="countdown",
                       numbers=tuple(shown), kind="countdown", level=self.num_numbers)  # fmt: skip


GENERATORS = {"arithmetic": Arithmetic, "linear": LinearEquation, "countdown": Countdown}
