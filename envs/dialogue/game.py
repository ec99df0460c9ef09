"""Guessing games over a dialogue: the agent asks about a hidden thing and then names it
(LMRL-Gym's Twenty Questions and Guess My City).

Rules (LMRL-Gym's): every question, a wrong guess included, gives reward -1; the correct guess
gives 0 and ends the episode (``won``); the registered step cap (20) truncates. A return of -k
means the agent found the answer with k questions before its guess; -20 that it never did.

Each step the action is read as (:mod:`turngym.envs.dialogue.text`):

1. a guess that names a candidate ("Is it a cat?", "cat", "a cat", "CAT."): right or wrong;
2. else a question (a yes/no question; open questions too where the game allows them), answered
   by the *answerer*: the rule answerer over the game's fact table (default), or a language
   model (``answerer="llm"`` with ``chat=`` endpoint settings or a chat function, see
   :mod:`turngym.envs.dialogue.simulated_user`); whether a guess is right is always decided by
   the rules, never by the model;
3. else the action is invalid: the game's help line, reward 0, nothing changes (the contract's
   invalid action; an invalid turn still counts towards the step cap).

``admissible_actions`` is a menu for ``choose`` mode, not a limit: the game's suggested question
for every topic not yet asked, then a guess of every candidate not yet ruled out. ``state_key``
is what the agent has learnt (the facts revealed and the guesses ruled out), not the order.
"""

from __future__ import annotations

from typing import Any

from ..core import TextEnv
from .simulated_user import ChatFunction, answerer_chat
from .text import guess_phrase, is_question, normalize, singular


class GuessingGame(TextEnv):
    """The base of the guessing games. A game supplies its candidates and answers:

    - ``candidates``: one name per task id; ``names``: recognised spelling -> candidate;
    - :meth:`rule_answer`, :meth:`llm_messages`, :meth:`llm_answer`;
    - ``task``, ``intro``, ``suggested_questions`` (topic -> question), :meth:`guess_action`.

    Args:
        answerer: ``"rule"`` (default) or ``"llm"``.
        chat: for ``"llm"``: endpoint settings (``base_url``, ``model``, ...) or a chat function.
    """

    open_questions = False
    task = ""
    intro = ""
    candidates: tuple[str, ...] = ()
    names: dict[str, str] = {}
    suggested_questions: dict[str, str] = {}

    def __init__(
        self,
        answerer: str = "rule",
        chat: ChatFunction | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode)
        self.answerer = answerer
        self._chat = answerer_chat(answerer, chat)
        self.secret = ""
        self.facts: set[str] = set()
        self.asked: dict[str, str] = {}  # suggested topic -> the answer it got
        self.ruled_out: set[str] = set()
        self.questions = 0
        self.won = False

    # -- what a game supplies -------------------------------------------------------------------
    def rule_answer(
        self, question: str, candidate: str | None = None
    ) -> tuple[str, str | None, str | None]:
        """(answer, revealed fact or None, topic asked or None) to a normalised question about
        ``candidate`` (default: the hidden one)."""
        raise NotImplementedError

    def llm_messages(self, question: str) -> list[dict[str, str]]:
        raise NotImplementedError

    def llm_answer(self, reply: str) -> str:
        """The answer shown for the model's ``reply`` (kept to the game's answer form)."""
        raise NotImplementedError

    def guess_action(self, candidate: str) -> str:
        raise NotImplementedError

    # -- the contract ---------------------------------------------------------------------------
    def _start(self, task_id: Any) -> tuple[str, dict[str, Any]]:
        self.secret = self.candidates[task_id]
        self.facts, self.asked, self.ruled_out = set(), {}, set()
        self.questions, self.won = 0, False
        return f"{self.task} {self.intro}", self.state_info()

    def state_info(self) -> dict[str, Any]:
        questions = [q for topic, q in self.suggested_questions.items() if topic not in self.asked]
        guesses = [self.guess_action(c) for c in self.candidates if c not in self.ruled_out]
        known = sorted(self.facts) + sorted(f"not {c}" for c in self.ruled_out)
        return {
            "task": self.task,
            "admissible_actions": questions + guesses,
            "state_key": "; ".join(known) or "nothing known yet",
            "won": self.won,
            "questions_asked": self.questions,
        }

    def _invalid_answer(self) -> tuple[str, dict[str, Any]]:
        return self.invalid_action_answer, {"invalid_action": True, **self.state_info()}

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        text = normalize(action)
        guessed = self.recognise_guess(text)
        if guessed is not None:
            self.questions += 1
            if guessed == self.secret:
                self.won = True
                return self.correct_answer(), 0.0, True, self.state_info()
            self.ruled_out.add(guessed)
            return "No.", -1.0, False, self.state_info()
        if not is_question(text, self.open_questions):
            observation, info = self._invalid_answer()
            return observation, 0.0, False, info
        self.questions += 1
        return self.answer(text), -1.0, False, self.state_info()

    def recognise_guess(self, text: str) -> str | None:
        """The candidate ``text`` names as a guess, or ``None``."""
        phrase, _ = guess_phrase(text)
        for form in singular(phrase):
            if form in self.names:
                return self.names[form]
        return None

    def answer(self, question: str) -> str:
        if self._chat is None:
            answer, fact, topic = self.rule_answer(question)
            if topic is not None:
                self.asked[topic] = answer
        else:
            answer = self.llm_answer(self._chat(self.llm_messages(question)))
            fact = f"{question} -> {answer}"
        if fact is not None:
            self.facts.add(fact)
        return answer

    def expert_action(self) -> str:
        """The rule expert's move: guess when one candidate agrees with every answer so far,
        else the suggested question whose answers split those candidates best (the smallest
        expected number left, sum_g n_g^2 / n over answer groups g). It reads the game's fact
        table, so it is exact with the rule answerer."""
        consistent = [
            c for c in self.candidates
            if c not in self.ruled_out and all(
                self._suggested_answer(topic, c) == answer for topic, answer in self.asked.items()
            )
        ]  # fmt: skip
        best, best_cost = None, len(consistent)
        for topic in self.suggested_questions:
            if topic in self.asked or len(consistent) < 2:
                continue
            groups: dict[str, int] = {}
            for c in consistent:
                key = self._suggested_answer(topic, c)
                groups[key] = groups.get(key, 0) + 1
            cost = sum(n * n for n in groups.values()) / len(consistent)
            if cost < best_cost:
                best, best_cost = topic, cost
        if best is None:
            return self.guess_action((consistent or list(self.candidates))[0])
        return self.suggested_questions[best]

    def _suggested_answer(self, topic: str, candidate: str) -> str:
        question = normalize(self.suggested_questions[topic])
        return self.rule_answer(question, candidate)[0]

    def correct_answer(self) -> str:
        return f"Yes! It is {self.secret}. You found it in {self.questions} turns."
