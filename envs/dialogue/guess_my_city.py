"""``turngym/GuessMyCity-v0``: find a hidden city with open questions in at most 20 turns
(LMRL-Gym's Guess My City; rules in :mod:`turngym.envs.dialogue.game`).

The rule answerer reads a fact table of 42 cities (:mod:`turngym.envs.dialogue.cities`, whose
docstring gives the questions it understands); task id k hides city k. With
``answerer="llm"`` a language model plays the user who knows the city; its reply is shown with
the city's name masked, so a careless model cannot give the answer away.

    > Which continent is it on?    It is in Asia.                   (reward -1)
    > What is it famous for?       It is known for the Forbidden City.   (-1)
    > Is it Beijing?               Yes! It is Beijing. You found it in 3 turns.  (0, won)
"""

from __future__ import annotations

import re

from .cities import CITIES, TOPIC_QUESTIONS, answer_about_city
from .game import GuessingGame
from .text import normalize

_BY_NAME = {city.name: city for city in CITIES}


class GuessMyCityEnv(GuessingGame):
    """Guess My City (see the module docstring)."""

    open_questions = True
    candidates = tuple(city.name for city in CITIES)
    num_tasks = len(candidates)
    names = {
        normalize(spelling): city.name for city in CITIES for spelling in (city.name, *city.aliases)
    }
    suggested_questions = dict(TOPIC_QUESTIONS)
    task = "Find the hidden city by asking questions about it, in at most 20 turns."
    intro = (
        "I am thinking of a city somewhere in the world. Ask me anything about it (its country, "
        'people, climate, sights, food ...); each question costs a turn. Guess with "Is it ...?".'
    )
    invalid_action_answer = (
        'Please ask a question about the city (e.g. "Which continent is it on?") or guess '
        '("Is it Paris?").'
    )

    @property
    def city(self):
        return _BY_NAME[self.secret]

    def rule_answer(
        self, question: str, candidate: str | None = None
    ) -> tuple[str, str | None, str | None]:
        answer, fact = answer_about_city(_BY_NAME[candidate or self.secret], question)
        topic = fact if fact in TOPIC_QUESTIONS else None
        return answer, (f"{fact}: {answer}" if topic else fact), topic

    def llm_messages(self, question: str) -> list[dict[str, str]]:
        system = (
            f"You are playing a guessing game. You are thinking of the city {self.city.name} in "
            f"{self.city.country}. Answer the player's question about it truthfully in one short "
            "sentence. Never say the city's name."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]

    def llm_answer(self, reply: str) -> str:
        text = " ".join(reply.split())[:300] or "I don't know."
        for spelling in (self.city.name, *self.city.aliases):
            text = re.sub(rf"\b{re.escape(spelling)}\b", "[the city]", text, flags=re.IGNORECASE)
        return text

    def guess_action(self, candidate: str) -> str:
        return f"Is it {candidate}?"
