"""A pure-Python ALFWorld engine: the ``alfred`` PDDL domain and its text grammar, interpreted.

``NativeEngine`` has ``TextWorldEngine``'s interface (``load``/``reset``/``step``/``close``,
``EngineState`` results) and reads the same ``game.tw-pddl`` files, without textworld, tatsu or
Fast Downward. It reproduces what the reference engine (textworld's PDDL env with ALFWorld's
``AlfredDemangler``) says, byte for byte, including its quirks:

- entity names are ALFWorld's demangled ids (``desk 1``): ids sorted, per name numbered from the
  highest down, ``basin`` appended for ids holding it;
- text is generated from textworld's *fact list*, which is not the planner's state: every effect
  atom of the applied operator is written into it, conditional or not (``not_X`` facts appear for
  deleted atoms and stay until ``X`` is added again; toggling leaves ``not_ison``), while
  applicability and the goal use the true PDDL state;
- grammar queries enumerate facts in sorted order and bind distinct placeholders to distinct
  objects; rule conditions pick the first applicable production;
- admissible commands are ``sorted(set(...))``; a command is matched after ``strip()`` and
  anything else answers "Nothing happens."; reward is 1 while the goal holds, ``done`` = won.

``plan()`` is not available (the reference uses Fast Downward's planner).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import GameFileError, load_game
from .pddl import Domain, FactIndex, Matcher, PddlError, Problem, parse_domain, parse_problem
from .textworld_engine import (
    NEGATED_PREFIX,
    EngineState,
    describes_state,
    fact_digest,
    format_key,
)

NOTHING_HAPPENS = "Nothing happens."


# -- entities -------------------------------------------------------------------------------------
class Entity:
    """What grammar expressions see as ``r``, ``o``...: textworld's ``EntityInfo`` fields."""

    __slots__ = ("id", "type", "name", "definite", "indefinite")

    def __init__(self, id: str, type: str, name: str) -> None:
        self.id = id
        self.type = type
        self.name = name
        self.definite = "the"
        self.indefinite = "a"

    def __str__(self) -> str:
        return self.name


def demangled_names(ids: list[str]) -> dict[str, str]:
    """ALFWorld's ``Demangler(shuffle=False)``: raw PDDL id -> display name (``"desk 1"``)."""
    ids = sorted(ids)
    counts: Counter[str] = Counter()
    for id_ in ids:
        splits = id_.split("_bar_", 1)
        if len(splits) > 1:
            name = splits[0]
            if "basin" in id_:
                name += "basin"
            counts[name] += 1
    numbers = {name: list(range(1, count + 1)) for name, count in counts.most_common()}
    names = {}
    for id_ in ids:
        text = id_.replace("_bar_", "|").replace("_minus_", "-").replace("_plus_", "+")
        text = text.replace("_dot_", ".").replace("_comma_", ",")
        splits = text.split("|", 1)
        if len(splits) == 1:
            names[id_] = f"{text} "
        else:
            name = splits[0]
            if "basin" in id_:
                name += "basin"
            names[id_] = f"{name} {numbers[name].pop()}"
    return names


# -- the context-sensitive grammar ----------------------------------------------------------------
@dataclass(frozen=True)
class Terminal:
    text: str


@dataclass(frozen=True)
class Nonterminal:
    tag: str


@dataclass(frozen=True)
class Eval:
    source: str
    code: Any = field(compare=False, hash=False)


@dataclass(frozen=True)
class Conditional:
    expression: Nonterminal | Eval
    given: tuple | None  # a parsed conjunctive query


@dataclass(frozen=True)
class ListOf:
    item: Conditional


_TAG = re.compile(r"[\w()/!<>\-\s,.]+")
_STATEMENT = re.compile(r"[^|\[\]{}\n<>]+")
_GIVEN = re.compile(r"[^;|{}\n\[\]#]+")
_LITERAL = re.compile(r'[^;|"<>\[\]#{}]*')
_BAR = re.compile(r"\s*\|\s*")
_EOL_COMMENT = re.compile(r"(//.*|\s*)\n?")
_PREDICATE = re.compile(r"\s*([\w/-]+)\s*\(([^)]*)\)\s*")


class GrammarError(ValueError):
    pass


def parse_query(text: str) -> tuple:
    """``pred(a:t, b:t) & pred2(...)`` -> ((pred, ((name, type), ...)), ...)."""
    predicates = []
    for part in text.split("&"):
        match = _PREDICATE.fullmatch(part)
        if not match:
            raise GrammarError(f"cannot read grammar query {text!r}")
        params = []
        for param in match.group(2).split(","):
            param = param.strip()
            if not param:
                continue
            name, _, kind = param.partition(":")
            name = name.strip()
            params.append((name, kind.strip() or name))
        predicates.append((match.group(1), tuple(params)))
    return tuple(predicates)


class _SymbolParser:
    """textgen.ebnf (tatsu) by hand: tabs are white space, lines may start with a comment."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        text = self.text
        while True:
            start = self.pos
            while self.pos < len(text) and text[self.pos] == "\t":
                self.pos += 1
            if self.pos == 0 or text[self.pos - 1] == "\n":
                match = _EOL_COMMENT.match(text, self.pos)
                if match:
                    self.pos = match.end()
            if self.pos == start:
                return

    def parse(self) -> list:
        symbols = []
        while True:
            self._skip()
            if self.pos >= len(self.text):
                break
            char = self.text[self.pos]
            if char == "[":
                self.pos += 1
                item = self._conditional()
                self._expect("]")
                symbols.append(ListOf(item))
            elif char == "{":
                symbols.append(self._conditional())
            elif char == "#":
                symbols.append(self._nonterminal())
            elif char == '"':
                end = self.text.find('"', self.pos + 1)
                if end < 0:
                    raise GrammarError(f"unclosed quote in {self.text!r}")
                symbols.append(Terminal(self.text[self.pos + 1 : end]))
                self.pos = end + 1
            else:
                match = _LITERAL.match(self.text, self.pos)
                if not match or match.end() == self.pos:
                    break
                symbols.append(Terminal(match.group(0)))
                self.pos = match.end()
        # like tatsu's ``{Symbol}+`` without an end anchor, text that no symbol matches (a stray
        # ``}``) ends the rule silently
        return symbols

    def _expect(self, char: str) -> None:
        self._skip()
        if self.text[self.pos : self.pos + 1] != char:
            raise GrammarError(f"expected {char!r} in {self.text!r} at {self.pos}")
        self.pos += 1

    def _nonterminal(self) -> Nonterminal:
        self._expect("#")
        match = _TAG.match(self.text, self.pos)
        if not match:
            raise GrammarError(f"bad #tag# in {self.text!r}")
        self.pos = match.end()
        self._expect("#")
        return Nonterminal(match.group(0))

    def _conditional(self) -> Conditional:
        self._expect("{")
        self._skip()
        if self.text[self.pos : self.pos + 1] == "#":
            expression: Nonterminal | Eval = self._nonterminal()
        else:
            match = _STATEMENT.match(self.text, self.pos)
            if not match:
                raise GrammarError(f"bad {{expression}} in {self.text!r}")
            self.pos = match.end()
            source = match.group(0)
            expression = Eval(source, compile(source.strip(), "<grammar>", "eval"))
        given = None
        bar = _BAR.match(self.text, self.pos)
        if bar:
            self.pos = bar.end()
            match = _GIVEN.match(self.text, self.pos)
            if not match:
                raise GrammarError(f"bad query in {self.text!r}")
            self.pos = match.end()
            given = parse_query(match.group(0))
        self._expect("}")
        return Conditional(expression, given)


_SYMBOL_CACHE: dict[str, list] = {}


def parse_symbols(text: str) -> list:
    symbols = _SYMBOL_CACHE.get(text)
    if symbols is None:
        symbols = _SymbolParser(text).parse()
        _SYMBOL_CACHE[text] = symbols
    return symbols


@dataclass
class Rule:
    rhs: list
    condition: tuple | None


@dataclass
class GameText:
    """The ``grammar`` field of a game: the text grammar and each action's template/feedback."""

    rules: dict[str, list[Rule]]
    templates: dict[str, str]  # action name (lower case) -> command template
    feedback: dict[str, str]  # action name (lower case) -> feedback rule


_STR_BLOCK = re.compile(r'"""(?:.|\n)*?"""')
_STR = re.compile(r'"[^"]*"')
_NAME = re.compile(r"[\w/-]+")


def parse_game_text(document: str) -> GameText:
    """Read a ``.twl2`` document (textworld's ``PddlLogic`` grammar) without tatsu."""
    pos = 0
    grammar: dict[str, Any] = {}
    templates: dict[str, str] = {}
    feedback: dict[str, str] = {}

    def skip(pos: int) -> int:
        while pos < len(document):
            if document[pos].isspace():
                pos += 1
            elif document[pos] == "#":
                end = document.find("\n", pos)
                pos = len(document) if end < 0 else end
            else:
                break
        return pos

    def expect(pos: int, token: str) -> int:
        pos = skip(pos)
        if not document.startswith(token, pos):
            raise GrammarError(f"expected {token!r} at {document[pos : pos + 40]!r}")
        return pos + len(token)

    def block(pos: int) -> tuple[str, int]:
        pos = skip(pos)
        match = _STR_BLOCK.match(document, pos)
        if not match:
            raise GrammarError(f'expected """...""" at {document[pos : pos + 40]!r}')
        return textwrap.dedent(match.group(0)[3:-3]), match.end()

    while True:
        pos = skip(pos)
        if pos >= len(document):
            break
        if document.startswith("grammar", pos):
            pos = expect(pos + len("grammar"), "::")
            code, pos = block(pos)
            pos = expect(pos, ";")
            grammar.update(json.loads(code))
        elif document.startswith("action", pos):
            pos = skip(pos + len("action"))
            match = _NAME.match(document, pos)
            if not match:
                raise GrammarError("an action without a name")
            name, pos = match.group(0), match.end()
            pos = expect(pos, "{")
            action_grammar = "{}"
            while True:
                pos = skip(pos)
                if document.startswith("}", pos):
                    pos += 1
                    break
                key_match = _NAME.match(document, pos)
                if not key_match:
                    raise GrammarError(f"bad action field at {document[pos : pos + 40]!r}")
                key, pos = key_match.group(0), key_match.end()
                pos = expect(pos, "::")
                if key in ("pddl", "grammar"):
                    value, pos = block(pos)
                else:
                    pos = skip(pos)
                    str_match = _STR.match(document, pos)
                    if not str_match:
                        raise GrammarError(f"expected a string for {key} of {name}")
                    value, pos = str_match.group(0)[1:-1], str_match.end()
                pos = expect(pos, ";")
                if key == "template":
                    templates[name.lower()] = value
                elif key == "feedback":
                    feedback[name.lower()] = value
                elif key == "grammar":
                    action_grammar = value
            lines = action_grammar.split("\n")
            grammar.update(
                json.loads("\n".join(ln for ln in lines if not ln.lstrip().startswith("#")))
            )
        else:
            raise GrammarError(f"unexpected text in the game grammar: {document[pos : pos + 40]!r}")
    rules = {
        name: [
            Rule(
                parse_symbols(rule["rhs"]),
                parse_query(rule["condition"]) if rule.get("condition") else None,
            )
            for rule in productions
        ]
        for name, productions in grammar.items()
    }
    return GameText(rules=rules, templates=templates, feedback=feedback)


# -- textworld's fact list ------------------------------------------------------------------------
class TextFacts:
    """textworld's ``PddlState`` facts: positive atoms plus the ``not_*`` atoms effects wrote."""

    def __init__(self, types: dict[str, str], supertypes: dict[str, set[str]]) -> None:
        self.facts: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        self.types = types
        self.supertypes = supertypes
        self._sorted: dict[str, list[tuple[str, ...]]] = {}
        self._sorted_by_arg: dict[tuple[str, int], dict[str, list[tuple[str, ...]]]] = {}
        #: ``state_key``'s running sum of fact digests, and the digests seen (shared by copies)
        self._key_sum = 0
        self._digests: dict[tuple[str, tuple[str, ...]], int] = {}

    def copy(self) -> TextFacts:
        other = TextFacts(self.types, self.supertypes)
        for key, value in self.facts.items():
            other.facts[key] = set(value)
        other._key_sum = self._key_sum
        other._digests = self._digests
        return other

    def add(self, pred: str, args: tuple[str, ...]) -> None:
        facts = self.facts[pred]
        if args not in facts:
            facts.add(args)
            self._forget_order(pred)
            self._key_sum += self._digest(pred, args)

    def discard(self, pred: str, args: tuple[str, ...]) -> None:
        facts = self.facts.get(pred)
        if facts and args in facts:
            facts.discard(args)
            self._forget_order(pred)
            self._key_sum -= self._digest(pred, args)

    def _forget_order(self, pred: str) -> None:
        if self._sorted.pop(pred, None) is not None:
            for key in [k for k in self._sorted_by_arg if k[0] == pred]:
                del self._sorted_by_arg[key]

    def _digest(self, pred: str, args: tuple[str, ...]) -> int:
        """The fact's share of ``state_key`` (0 for facts the key leaves out)."""
        digest = self._digests.get((pred, args))
        if digest is None:
            digest = fact_digest(self.render(pred, args)) if describes_state(pred) else 0
            self._digests[(pred, args)] = digest
        return digest

    def render(self, pred: str, args: tuple[str, ...]) -> str:
        """The fact as textworld prints it: ``pred(a: type, ...)``, a type's own constant bare."""
        types = self.types
        rendered = ", ".join(a if types.get(a) == a else f"{a}: {types.get(a)}" for a in args)
        return f"{pred}({rendered})"

    def ordered(self, pred: str) -> list[tuple[str, ...]]:
        """Facts of ``pred`` in textworld's order: sorted by (name, type) of each argument."""
        result = self._sorted.get(pred)
        if result is None:
            types = self.types
            result = sorted(
                self.facts.get(pred, ()),
                key=lambda args: tuple((a, types.get(a, "")) for a in args),
            )
            self._sorted[pred] = result
        return result

    def _ordered_with(self, pred: str, position: int, value: str) -> list[tuple[str, ...]]:
        """``ordered(pred)`` restricted to facts whose argument ``position`` is ``value``."""
        index = self._sorted_by_arg.get((pred, position))
        if index is None:
            index = defaultdict(list)
            for args in self.ordered(pred):
                if position < len(args):
                    index[args[position]].append(args)
            self._sorted_by_arg[(pred, position)] = index
        return index.get(value, [])

    def assignments(self, query: tuple, mapping: dict[tuple[str, str], str]):
        """textworld's ``State.all_assignments`` for a conjunctive query (a generator)."""
        mapping = dict(mapping)
        used = set(mapping.values())
        seen = set(mapping)
        new_by_depth = []
        for _, params in query:
            new = []
            for ph in params:
                if ph not in seen:
                    new.append(ph)
                    seen.add(ph)
            new_by_depth.append(new)
        yield from self._assign(query, mapping, used, new_by_depth, 0)

    def _assign(self, query, mapping, used, new_by_depth, depth):
        if depth >= len(query):
            yield dict(mapping)
            return
        pred, params = query[depth]
        new = new_by_depth[depth]
        types, supertypes = self.types, self.supertypes
        candidates = self.ordered(pred)
        for position, ph in enumerate(params):
            if ph in mapping:  # only facts with this argument in place can match
                candidates = self._ordered_with(pred, position, mapping[ph])
                break
        for args in candidates:
            if len(args) != len(params):
                continue
            for (_, kind), var in zip(params, args, strict=True):
                if kind not in supertypes.get(types.get(var, ""), ()):
                    break
            else:
                for ph, var in zip(params, args, strict=True):
                    existing = mapping.get(ph)
                    if existing is None:
                        if var in used:
                            break
                        mapping[ph] = var
                        used.add(var)
                    elif existing != var:
                        break
                else:
                    yield from self._assign(query, mapping, used, new_by_depth, depth + 1)
                for ph in new:
                    var = mapping.pop(ph, None)
                    used.discard(var)

    def key(self) -> str:
        """``facts_key`` of the reference engine, kept up to date by ``add`` and ``discard``."""
        return format_key(self._key_sum)


class Deriver:
    """Expands grammar symbols against a ``TextFacts`` (textworld's ``ContextSensitiveGrammar``)."""

    def __init__(self, text: GameText, facts: TextFacts, entities: dict[str, Entity]) -> None:
        self.rules = text.rules
        self.facts = facts
        self.entities = entities

    def derive(self, source: str, mapping: dict[tuple[str, str], str]) -> str:
        out: list[str] = []
        variables = {
            name: self.entities[var] for (name, _), var in mapping.items() if var in self.entities
        }
        self._symbols(parse_symbols(source), mapping, variables, out)
        return "".join(out)

    def _symbols(self, symbols, mapping, variables, out) -> None:
        for symbol in symbols:
            kind = type(symbol)
            if kind is Terminal:
                out.append(symbol.text)
            elif kind is Nonterminal:
                self._nonterminal(symbol.tag, mapping, variables, out)
            elif kind is Conditional:
                for m, v in self._contexts(symbol, mapping, variables):
                    self._expression(symbol.expression, m, v, out)
            elif kind is ListOf:
                items = []
                for m, v in self._contexts(symbol.item, mapping, variables):
                    part: list[str] = []
                    self._expression(symbol.item.expression, m, v, part)
                    items.append("".join(part))
                if not items:
                    self._nonterminal("list_empty", mapping, variables, out)
                elif len(items) == 1:
                    out.append(items[0])
                else:
                    for index, item in enumerate(items):
                        if index == len(items) - 1:
                            self._nonterminal("list_last_separator", mapping, variables, out)
                        elif index > 0:
                            self._nonterminal("list_separator", mapping, variables, out)
                        out.append(item)
            elif kind is Eval:
                self._expression(symbol, mapping, variables, out)
            else:  # pragma: no cover
                raise GrammarError(f"unknown symbol {symbol!r}")

    def _contexts(self, symbol: Conditional, mapping, variables):
        if symbol.given is None:
            return [(mapping, variables)]
        contexts = []
        for found in self.facts.assignments(symbol.given, mapping):
            new_variables = dict(variables)
            for (name, _), var in found.items():
                new_variables[name] = self.entities[var]
            contexts.append((found, new_variables))
        return contexts

    def _expression(self, expression, mapping, variables, out) -> None:
        if type(expression) is Nonterminal:
            self._nonterminal(expression.tag, mapping, variables, out)
        else:
            out.append(str(eval(expression.code, {"__builtins__": {}}, dict(variables))))

    def _nonterminal(self, tag: str, mapping, variables, out) -> None:
        rules = self.rules.get(tag)
        if not rules:
            raise GrammarError(f"Can't find symbol '#{tag}#' in the set of production rules.")
        for rule in rules:
            if (
                rule.condition is None
                or next(self.facts.assignments(rule.condition, mapping), None) is not None
            ):
                self._symbols(rule.rhs, mapping, variables, out)
                return
        raise GrammarError(f"no production of #{tag}# applies")


# -- the engine -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroundAction:
    name: str
    args: tuple[str, ...]


@dataclass
class _Game:
    """What a loaded game file is compiled to (shared by every reset)."""

    domain: Domain
    problem: Problem
    text: GameText
    matcher: Matcher
    entities: dict[str, Entity]
    types: dict[str, str]
    supertypes: dict[str, set[str]]
    init_state: FactIndex
    init_text: TextFacts
    goal: list
    static_templates: set[str]
    command_cache: dict[GroundAction, str] = field(default_factory=dict)


_DOMAIN_CACHE: dict[str, Domain] = {}
_TEXT_CACHE: dict[str, GameText] = {}


def _template_is_static(text: GameText, template: str, fluents: set[str]) -> bool:
    """Whether a command template reads only facts that never change."""
    stack = list(parse_symbols(template))
    while stack:
        symbol = stack.pop()
        if isinstance(symbol, ListOf):
            stack.append(symbol.item)
        elif isinstance(symbol, Conditional):
            if symbol.given and any(
                pred in fluents or pred.startswith(NEGATED_PREFIX) for pred, _ in symbol.given
            ):
                return False
            stack.append(symbol.expression)
        elif isinstance(symbol, Nonterminal):
            return False
    return True


def compile_game(data: dict[str, Any]) -> _Game:
    domain_text, grammar_text = data["pddl_domain"], data["grammar"]
    domain = _DOMAIN_CACHE.get(domain_text)
    if domain is None:
        domain = _DOMAIN_CACHE.setdefault(domain_text, parse_domain(domain_text))
    text = _TEXT_CACHE.get(grammar_text)
    if text is None:
        text = _TEXT_CACHE.setdefault(grammar_text, parse_game_text(grammar_text))
    problem = parse_problem(data["pddl_problem"])
    objects = dict(domain.constants)
    objects.update(problem.objects)
    all_types = set(domain.types) | {"object"} | set(objects.values())
    supertypes = {
        kind: {other for other in all_types if domain.is_subtype(kind, other)} for kind in all_types
    }
    init_state = FactIndex(problem.init)
    init_text = TextFacts(objects, supertypes)
    ids = set()
    for pred, args in problem.init:
        init_text.add(pred, args)
        ids.update(args)
    names = demangled_names(sorted(ids))
    entities = {id_: Entity(id_, objects.get(id_, "object"), names[id_]) for id_ in ids}
    fluents = domain.fluent_predicates()
    static_templates = {
        name
        for name, template in text.templates.items()
        if _template_is_static(text, template, fluents)
    }
    return _Game(
        domain=domain,
        problem=problem,
        text=text,
        matcher=Matcher(domain, objects),
        entities=entities,
        types=objects,
        supertypes=supertypes,
        init_state=init_state,
        init_text=init_text,
        goal=_goal_dnf(problem),
        static_templates=static_templates,
    )


def _goal_dnf(problem: Problem) -> list:
    from .pddl import to_dnf

    return to_dnf(problem.goal)


def _may_be_noop(schema, literals) -> bool:
    """Whether some binding could leave the operator without effects (see ``_is_noop``)."""
    if any(condition is not None or forall for forall, condition, _ in schema.effects):
        return False
    signs = {(positive, pred) for positive, pred, _ in literals}
    added = {pred for _, _, (positive, pred, _) in schema.effects if positive}
    return all(
        (positive, pred) in signs or (not positive and pred in added)
        for _, _, (positive, pred, _) in schema.effects
    )


def _is_noop(schema, literals, binding) -> bool:
    """Fast Downward's translator drops an operator all of whose effects change nothing.

    An effect is void when the precondition already fixes that value, and a delete is void when
    the operator also adds the atom (add wins), e.g. ``GotoLocation`` to where the agent is.
    """
    ground = {
        (positive, pred, tuple(binding.get(t, t) for t in terms))
        for positive, pred, terms in literals
    }
    effects = [
        (positive, pred, tuple(binding.get(t, t) for t in terms))
        for _, _, (positive, pred, terms) in schema.effects
    ]
    adds = {(pred, args) for positive, pred, args in effects if positive}
    for positive, pred, args in effects:
        if (positive, pred, args) in ground:
            continue
        if not positive and (pred, args) in adds:
            continue
        return False
    return True


class NativeEngine:
    """Plays one ALFWorld game at a time in pure Python (see the module docstring)."""

    name = "native"

    def __init__(self) -> None:
        self.game_file: Path | None = None
        self._game: _Game | None = None
        self._state: FactIndex | None = None
        self._text: TextFacts | None = None
        self._deriver: Deriver | None = None
        self._valid: dict[str, GroundAction] = {}

    # -- interface ---------------------------------------------------------------------------
    def load(self, game_file: str | Path) -> None:
        game_file = Path(game_file)
        if self._game is not None and self.game_file == game_file:
            return
        self.close()
        data = load_game(game_file)
        try:
            self._game = compile_game(data)
        except (PddlError, GrammarError, KeyError, IndexError, TypeError, ValueError) as error:
            raise GameFileError(
                f"cannot load ALFWorld game {game_file}: {type(error).__name__}: {error}"
            ) from error
        self.game_file = game_file

    def reset(self) -> EngineState:
        game = self._require()
        self._state = game.init_state.copy()
        self._text = game.init_text.copy()
        self._deriver = Deriver(game.text, self._text, game.entities)
        observation = self._deriver.derive("#intro#", {})
        return self._finish(observation, 0.0, False)

    def step(self, command: str) -> EngineState:
        game = self._require()
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = self._valid.get(command.strip())
        if action is None:
            observation = NOTHING_HAPPENS
        else:
            schema = game.domain.actions[action.name]
            self._apply(schema, action.args)
            mapping = {
                (var.lstrip("?"), kind): value
                for (var, kind), value in zip(schema.parameters, action.args, strict=True)
            }
            observation = self._deriver.derive(game.text.feedback[action.name], mapping)
        won = game.matcher.holds(self._state, game.goal, {})
        return self._finish(observation, 1.0 if won else 0.0, won, won)

    def plan(self) -> list[str]:
        raise NotImplementedError(
            "the native ALFWorld engine has no planner; use engine='textworld' for expert_plan()"
        )

    def close(self) -> None:
        self._game = None
        self._state = None
        self._text = None
        self._deriver = None
        self._valid = {}
        self.game_file = None

    # -- internals ---------------------------------------------------------------------------
    def _require(self) -> _Game:
        if self._game is None:
            raise RuntimeError("no ALFWorld game is loaded; call load(game_file) first")
        return self._game

    def _finish(
        self, observation: str, reward: float, done: bool, won: bool | None = None
    ) -> EngineState:
        game = self._require()
        if won is None:
            won = game.matcher.holds(self._state, game.goal, {})
        self._valid = {}
        for action in self._applicable():
            command = self._command(action)
            self._valid.setdefault(command, action)
        return EngineState(
            observation=observation,
            reward=reward,
            done=done,
            won=bool(won),
            admissible_commands=sorted(self._valid),
            state_key=self._text.key(),
        )

    def _applicable(self) -> list[GroundAction]:
        game = self._require()
        actions = []
        for name, schema in game.domain.actions.items():
            if name not in game.text.templates:
                continue
            params = [var for var, _ in schema.parameters]
            seen = set()
            for extra, literals in schema.conjuncts:
                variables = dict(schema.parameters)
                variables.update(extra)
                may_be_noop = _may_be_noop(schema, literals)
                for binding in game.matcher.solve(self._state, variables, literals, {}):
                    args = tuple(binding[p] for p in params)
                    if args in seen or (may_be_noop and _is_noop(schema, literals, binding)):
                        continue
                    seen.add(args)
                    actions.append(GroundAction(name, args))
        return actions

    def _command(self, action: GroundAction) -> str:
        game = self._require()
        cached = game.command_cache.get(action)
        if cached is not None:
            return cached
        schema = game.domain.actions[action.name]
        mapping = {
            (var.lstrip("?"), kind): value
            for (var, kind), value in zip(schema.parameters, action.args, strict=True)
        }
        command = self._deriver.derive(game.text.templates[action.name], mapping)
        if action.name in game.static_templates:
            game.command_cache[action] = command
        return command

    def _apply(self, schema, args: tuple[str, ...]) -> None:
        game = self._require()
        state, text = self._state, self._text
        binding = {var: value for (var, _), value in zip(schema.parameters, args, strict=True)}
        adds: list[tuple[str, tuple[str, ...]]] = []
        deletes: list[tuple[str, tuple[str, ...]]] = []
        unconditional_adds = set()
        reported: list[
            tuple[bool, bool, str, tuple[str, ...]]
        ] = []  # (cond?, positive, pred, args)
        for forall_vars, condition, (positive, pred, terms) in schema.effects:
            bindings = [binding]
            if forall_vars:
                bindings = list(game.matcher.solve(state, dict(forall_vars), [], binding))
            for b in bindings:
                atom_args = tuple(b.get(t, t) for t in terms)
                fires = condition is None or game.matcher.holds(state, condition, b)
                if fires:
                    (adds if positive else deletes).append((pred, atom_args))
                if positive and condition is None:
                    unconditional_adds.add((pred, atom_args))
                reported.append((condition is not None, positive, pred, atom_args))
        # the PDDL state: delete, then add (an atom both added and deleted stays true)
        for pred, atom_args in deletes:
            state.discard(pred, atom_args)
        for pred, atom_args in adds:
            state.add(pred, atom_args)
        # textworld's fact list: every effect atom the translated operator has, fired or not;
        # a delete of an atom the operator also adds unconditionally is dropped by the translator
        for _, positive, pred, atom_args in reported:
            if positive:
                text.discard(NEGATED_PREFIX + pred, atom_args)
                text.add(pred, atom_args)
        for conditional, positive, pred, atom_args in reported:
            if not positive and (conditional or (pred, atom_args) not in unconditional_adds):
                text.discard(pred, atom_args)
                text.add(NEGATED_PREFIX + pred, atom_args)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "game_file": None,
            "_game": None,
            "_state": None,
            "_text": None,
            "_deriver": None,
            "_valid": {},
        }
