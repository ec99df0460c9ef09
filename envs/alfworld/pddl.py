"""A small PDDL reader and evaluator for ALFWorld's ``alfred`` domain (no textworld, no planner).

It reads the subset of PDDL the ALFWorld games use (typing, ``and``/``or``/``not``/``imply``,
``exists``/``forall``, ``=``, conditional effects ``when``, ``increase`` of action costs, which is
ignored) and answers what the native engine needs: the ground actions applicable in a state, the
effects of applying one, and whether the goal holds.

Names are lower-cased, as Fast Downward's translator does (the reference engine sees them so).
Formulas are tuples:

- ``("atom", predicate, (term, ...))``: a term is a variable (``"?x"``) or an object name;
- ``("not", f)``, ``("and", [f, ...])``, ``("or", [f, ...])``, ``("imply", f, g)``;
- ``("exists", ((var, type), ...), f)``, ``("forall", ((var, type), ...), f)``;
- effects: ``("when", condition, effect)`` and ``("noop",)`` for numeric fluents.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

ROOT_TYPE = "object"


class PddlError(ValueError):
    """A PDDL text this reader cannot understand."""


# -- s-expressions --------------------------------------------------------------------------------
def parse_sexpr(text: str) -> list[Any]:
    """The first s-expression of ``text`` as nested lists of lower-cased symbols."""
    tokens: list[str] = []
    for line in text.split("\n"):
        line = line.split(";", 1)[0]
        tokens.extend(line.replace("(", " ( ").replace(")", " ) ").lower().split())
    stack: list[list[Any]] = [[]]
    for token in tokens:
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) < 2:
                raise PddlError("unbalanced ')' in PDDL")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1 or not stack[0]:
        raise PddlError("unbalanced '(' or empty PDDL")
    return stack[0][0]


def typed_list(items: list[str]) -> list[tuple[str, str]]:
    """``?a ?b - t ?c`` -> ``[(?a, t), (?b, t), (?c, object)]``."""
    result: list[tuple[str, str]] = []
    pending: list[str] = []
    index = 0
    while index < len(items):
        item = items[index]
        if item == "-":
            if index + 1 >= len(items):
                raise PddlError("a '-' without a type in a typed list")
            kind = items[index + 1]
            if isinstance(kind, list):  # (either ...) is not used by ALFWorld
                kind = ROOT_TYPE
            result.extend((name, kind) for name in pending)
            pending = []
            index += 2
            continue
        pending.append(item)
        index += 1
    result.extend((name, ROOT_TYPE) for name in pending)
    return result


def parse_formula(expr: Any) -> tuple:
    if not isinstance(expr, list):
        raise PddlError(f"expected a formula, got {expr!r}")
    if not expr:
        return ("and", [])
    head = expr[0]
    if head == "and":
        return ("and", [parse_formula(part) for part in expr[1:]])
    if head == "or":
        return ("or", [parse_formula(part) for part in expr[1:]])
    if head == "not":
        return ("not", parse_formula(expr[1]))
    if head == "imply":
        return ("imply", parse_formula(expr[1]), parse_formula(expr[2]))
    if head in ("exists", "forall"):
        return (head, tuple(typed_list(expr[1])), parse_formula(expr[2]))
    if head == "when":
        return ("when", parse_formula(expr[1]), parse_formula(expr[2]))
    if head in ("increase", "decrease", "assign", "scale-up", "scale-down"):
        return ("noop",)
    return ("atom", head, tuple(expr[1:]))


# -- domain and problem ---------------------------------------------------------------------------
@dataclass
class ActionSchema:
    name: str
    parameters: tuple[tuple[str, str], ...]
    precondition: tuple
    effect: tuple
    #: the precondition in disjunctive normal form: (extra existential variables, literals)
    conjuncts: list[tuple[tuple[tuple[str, str], ...], list[tuple]]] = field(default_factory=list)
    #: flattened effects: (forall variables, condition conjuncts or None, literal)
    effects: list[tuple[tuple[tuple[str, str], ...], Any, tuple]] = field(default_factory=list)


@dataclass
class Domain:
    name: str
    types: dict[str, str]  # type -> parent
    actions: dict[str, ActionSchema]
    constants: list[tuple[str, str]]

    def is_subtype(self, kind: str, ancestor: str) -> bool:
        if ancestor == ROOT_TYPE:
            return True
        seen = set()
        while kind not in seen:
            if kind == ancestor:
                return True
            seen.add(kind)
            kind = self.types.get(kind, ROOT_TYPE)
        return False

    def fluent_predicates(self) -> set[str]:
        """Predicates some action's effect changes (the others are static)."""
        fluents: set[str] = set()
        for action in self.actions.values():
            for _, _, literal in action.effects:
                fluents.add(literal[1])
        return fluents


@dataclass
class Problem:
    name: str
    objects: dict[str, str]  # name -> type
    init: list[tuple[str, tuple[str, ...]]]
    goal: tuple


def parse_domain(text: str) -> Domain:
    tree = parse_sexpr(text)
    if not tree or tree[0] != "define":
        raise PddlError("a PDDL domain starts with (define (domain ...)")
    name = tree[1][1]
    types: dict[str, str] = {}
    actions: dict[str, ActionSchema] = {}
    constants: list[tuple[str, str]] = []
    for section in tree[2:]:
        key = section[0]
        if key == ":types":
            for kind, parent in typed_list(section[1:]):
                if kind != ROOT_TYPE:
                    types[kind] = parent
        elif key == ":constants":
            constants = typed_list(section[1:])
        elif key == ":action":
            fields = {section[i]: section[i + 1] for i in range(2, len(section) - 1, 2)}
            schema = ActionSchema(
                name=section[1],
                parameters=tuple(typed_list(fields.get(":parameters", []))),
                precondition=parse_formula(fields.get(":precondition", [])),
                effect=parse_formula(fields.get(":effect", [])),
            )
            schema.conjuncts = to_dnf(schema.precondition)
            schema.effects = flatten_effect(schema.effect)
            actions[schema.name] = schema
    return Domain(name=name, types=types, actions=actions, constants=constants)


def parse_problem(text: str) -> Problem:
    tree = parse_sexpr(text)
    if not tree or tree[0] != "define":
        raise PddlError("a PDDL problem starts with (define (problem ...)")
    name = tree[1][1]
    objects: dict[str, str] = {}
    init: list[tuple[str, tuple[str, ...]]] = []
    goal: tuple = ("and", [])
    for section in tree[2:]:
        key = section[0]
        if key == ":objects":
            objects.update(typed_list(section[1:]))
        elif key == ":init":
            for atom in section[1:]:
                if atom and atom[0] not in ("=", "not") and all(isinstance(a, str) for a in atom):
                    init.append((atom[0], tuple(atom[1:])))
        elif key == ":goal":
            goal = parse_formula(section[1])
    return Problem(name=name, objects=objects, init=init, goal=goal)


# -- normal forms ---------------------------------------------------------------------------------
_fresh = itertools.count()


def _substitute(formula: tuple, renaming: dict[str, str]) -> tuple:
    kind = formula[0]
    if kind == "atom":
        return ("atom", formula[1], tuple(renaming.get(t, t) for t in formula[2]))
    if kind == "not":
        return ("not", _substitute(formula[1], renaming))
    if kind in ("and", "or"):
        return (kind, [_substitute(part, renaming) for part in formula[1]])
    if kind in ("imply", "when"):
        return (kind, _substitute(formula[1], renaming), _substitute(formula[2], renaming))
    if kind in ("exists", "forall"):
        inner = {k: v for k, v in renaming.items() if k not in {var for var, _ in formula[1]}}
        return (kind, formula[1], _substitute(formula[2], inner))
    return formula


def to_dnf(formula: tuple, negate: bool = False) -> list[tuple[tuple[tuple[str, str], ...], list]]:
    """Disjunctive normal form: a list of (existential variables, literals).

    A literal is ``(positive, predicate, terms)``. Existential variables are renamed apart
    (``?l#3``). Universal quantifiers in preconditions are not supported (ALFWorld has none).
    """
    kind = formula[0]
    if kind == "atom":
        return [((), [(not negate, formula[1], formula[2])])]
    if kind == "not":
        return to_dnf(formula[1], not negate)
    if kind == "imply":
        return to_dnf(("or", [("not", formula[1]), formula[2]]), negate)
    if kind in ("and", "or"):
        conjunctive = (kind == "and") != negate
        parts = [to_dnf(part, negate) for part in formula[1]]
        if not conjunctive:
            return [conjunct for part in parts for conjunct in part]
        result: list[tuple[tuple[tuple[str, str], ...], list]] = [((), [])]
        for part in parts:
            result = [(v1 + v2, l1 + l2) for v1, l1 in result for v2, l2 in part]
        return result
    if kind == "exists" and not negate:
        renaming = {var: f"{var}#{next(_fresh)}" for var, _ in formula[1]}
        variables = tuple((renaming[var], kind_) for var, kind_ in formula[1])
        body = _substitute(formula[2], renaming)
        return [(variables + v, lits) for v, lits in to_dnf(body, False)]
    if kind == "noop":
        return [((), [])]
    raise PddlError(f"unsupported formula in a precondition or goal: {kind}")


def flatten_effect(effect: tuple, variables=(), condition=None) -> list:
    kind = effect[0]
    if kind == "and":
        return [item for part in effect[1] for item in flatten_effect(part, variables, condition)]
    if kind == "noop":
        return []
    if kind == "when":
        if condition is not None:
            raise PddlError("nested conditional effects are not supported")
        return flatten_effect(effect[2], variables, to_dnf(effect[1]))
    if kind == "forall":
        return flatten_effect(effect[2], variables + tuple(effect[1]), condition)
    if kind == "atom":
        return [(variables, condition, (True, effect[1], effect[2]))]
    if kind == "not" and effect[1][0] == "atom":
        return [(variables, condition, (False, effect[1][1], effect[1][2]))]
    raise PddlError(f"unsupported effect: {kind}")


# -- states and matching --------------------------------------------------------------------------
class FactIndex:
    """A set of ground atoms, indexed by predicate and by (predicate, position, object)."""

    __slots__ = ("by_pred", "by_arg")

    def __init__(self, atoms: Iterable[tuple[str, tuple[str, ...]]] = ()) -> None:
        self.by_pred: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        self.by_arg: dict[tuple[str, int, str], set[tuple[str, ...]]] = defaultdict(set)
        for pred, args in atoms:
            self.add(pred, args)

    def copy(self) -> FactIndex:
        other = FactIndex()
        for key, value in self.by_pred.items():
            if value:
                other.by_pred[key] = set(value)
        for key, value in self.by_arg.items():
            if value:
                other.by_arg[key] = set(value)
        return other

    def __contains__(self, atom: tuple[str, tuple[str, ...]]) -> bool:
        facts = self.by_pred.get(atom[0])
        return facts is not None and atom[1] in facts

    def add(self, pred: str, args: tuple[str, ...]) -> bool:
        facts = self.by_pred[pred]
        if args in facts:
            return False
        facts.add(args)
        for position, arg in enumerate(args):
            self.by_arg[(pred, position, arg)].add(args)
        return True

    def discard(self, pred: str, args: tuple[str, ...]) -> bool:
        facts = self.by_pred.get(pred)
        if not facts or args not in facts:
            return False
        facts.discard(args)
        for position, arg in enumerate(args):
            self.by_arg[(pred, position, arg)].discard(args)
        return True

    def atoms(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        for pred, facts in self.by_pred.items():
            for args in facts:
                yield pred, args

    def candidates(self, pred: str, bound: list[tuple[int, str]]) -> Iterable[tuple[str, ...]]:
        if not bound:
            return self.by_pred.get(pred, ())
        best = None
        for position, value in bound:
            found = self.by_arg.get((pred, position, value))
            if not found:
                return ()
            if best is None or len(found) < len(best):
                best = found
        return best  # type: ignore[return-value]


class Matcher:
    """Finds the bindings that satisfy conjunctions of literals in a ``FactIndex``."""

    def __init__(self, domain: Domain, objects: dict[str, str]) -> None:
        self.domain = domain
        self.objects = objects
        self._by_type: dict[str, list[str]] = {}

    def objects_of(self, kind: str) -> list[str]:
        if kind not in self._by_type:
            self._by_type[kind] = sorted(
                name for name, k in self.objects.items() if self.domain.is_subtype(k, kind)
            )
        return self._by_type[kind]

    def solve(
        self,
        state: FactIndex,
        variables: dict[str, str],
        literals: list[tuple],
        binding: dict[str, str],
    ) -> Iterator[dict[str, str]]:
        """Every complete binding of ``variables`` (name -> type) satisfying all ``literals``."""
        positives = [lit for lit in literals if lit[0] and lit[1] != "="]
        checks = [lit for lit in literals if not lit[0] or lit[1] == "="]
        yield from self._search(state, variables, positives, checks, dict(binding))

    def _search(self, state, variables, positives, checks, binding):
        for literal in checks:
            terms = literal[2]
            if all(not t.startswith("?") or t in binding for t in terms):
                if not self._check(state, literal, binding):
                    return
        if not positives:
            free = [v for v in variables if v not in binding]
            if not free:
                if all(self._check(state, lit, binding) for lit in checks):
                    yield binding
                return
            var = free[0]
            for obj in self.objects_of(variables[var]):
                binding[var] = obj
                yield from self._search(state, variables, positives, checks, binding)
                del binding[var]
            return
        # the literal with the fewest matching facts first (fully bound ones have at most one)
        best_index, best_candidates, best_count = 0, (), -1
        for index, (_, pred, terms) in enumerate(positives):
            bound = []
            for position, term in enumerate(terms):
                if not term.startswith("?"):
                    bound.append((position, term))
                elif term in binding:
                    bound.append((position, binding[term]))
            candidates = state.candidates(pred, bound)
            if best_count < 0 or len(candidates) < best_count:
                best_index, best_candidates, best_count = index, candidates, len(candidates)
                if best_count <= 1:
                    break
        _, pred, terms = positives[best_index]
        rest = positives[:best_index] + positives[best_index + 1 :]
        for args in list(best_candidates):
            if len(args) != len(terms):
                continue
            added = []
            ok = True
            for term, value in zip(terms, args, strict=True):
                if not term.startswith("?"):
                    if term != value:
                        ok = False
                        break
                    continue
                current = binding.get(term)
                if current is None:
                    kind = variables.get(term)
                    if kind is not None and not self.domain.is_subtype(
                        self.objects.get(value, ROOT_TYPE), kind
                    ):
                        ok = False
                        break
                    binding[term] = value
                    added.append(term)
                elif current != value:
                    ok = False
                    break
            if ok:
                yield from self._search(state, variables, rest, checks, binding)
            for term in added:
                del binding[term]

    @staticmethod
    def _check(state: FactIndex, literal: tuple, binding: dict[str, str]) -> bool:
        positive, pred, terms = literal
        args = tuple(binding.get(t, t) for t in terms)
        if pred == "=":
            holds = args[0] == args[1]
        else:
            holds = (pred, args) in state
        return holds == positive

    def holds(self, state: FactIndex, conjuncts: list, binding: dict[str, str]) -> bool:
        """Whether a formula in DNF holds under ``binding`` (its extra variables existential)."""
        for extra, literals in conjuncts:
            for component in _components(literals, set(binding)):
                used = {t for literal in component for t in literal[2]}
                variables = {var: kind for var, kind in extra if var in used}
                if not any(True for _ in self.solve(state, variables, component, binding)):
                    break
            else:
                return True
        return False


def _components(literals: list[tuple], bound: set[str]) -> list[list[tuple]]:
    """Split literals into groups that share no unbound variable (solved independently)."""
    groups: list[tuple[set[str], list[tuple]]] = []
    for literal in literals:
        free = {t for t in literal[2] if t.startswith("?") and t not in bound}
        merged_vars, merged_lits = set(free), [literal]
        keep = []
        for vars_, lits in groups:
            if vars_ & free:
                merged_vars |= vars_
                merged_lits = lits + merged_lits
            else:
                keep.append((vars_, lits))
        keep.append((merged_vars, merged_lits))
        groups = keep
    return [lits for _, lits in groups]
