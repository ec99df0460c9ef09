"""``turngym/TwentyQuestions-v0``: find a hidden everyday object with yes/no questions in at most
20 turns (LMRL-Gym's Twenty Questions; rules in :mod:`turngym.envs.dialogue.game`).

The rule answerer knows 53 objects and 44 attributes (:mod:`turngym.envs.dialogue.objects`,
whose docstring gives the questions it understands); task id k hides object k.

    > Is it alive?                 Yes.       (reward -1)
    > Does it have fur?            Yes.       (-1)
    > Is it a pet?                 Yes.       (-1)
    > Is it a dog?                 No.        (-1)
    > cat.                         Yes! It is cat. You found it in 5 turns.   (0, won)
"""

from __future__ import annotations

from .game import GuessingGame
from .objects import ALIASES, ATTRIBUTES, OBJECTS, answer_question
from .text import guess_phrase


class TwentyQuestionsEnv(GuessingGame):
    """Twenty Questions (see the module docstring); ``answerer="llm"`` asks a language model,
    which is told the object and answers "Yes" or "No" (anything else shows "I don't know.")."""

    candidates = tuple(OBJECTS)
    num_tasks = len(candidates)
    names = {**{name: name for name in OBJECTS}, **ALIASES}
    suggested_questions = {name: question for name, (question, _) in ATTRIBUTES.items()}
    task = "Find the hidden object by asking yes/no questions, in at most 20 turns."
    intro = (
        "I am thinking of an everyday thing: an animal, a plant, a food, a vehicle, a tool, a "
        "piece of furniture, a device, an instrument or something else. Each question costs a "
        'turn; guess with "Is it a ...?".'
    )
    invalid_action_answer = (
        'Please ask a yes/no question (e.g. "Is it alive?") or guess ("Is it a cat?").'
    )

    def rule_answer(
        self, question: str, candidate: str | None = None
    ) -> tuple[str, str | None, str | None]:
        answer, fact = answer_question(candidate or self.secret, question)
        phrase, introduced = guess_phrase(question)
        if fact is None and introduced and len(phrase.split()) <= 3:
            return "No.", f"not {phrase}", None  # "Is it a spaceship?": not a thing of the game
        topic = fact.split("=")[0] if fact and fact.split("=")[0] in ATTRIBUTES else None
        return answer, fact, topic

    def llm_messages(self, question: str) -> list[dict[str, str]]:
        system = (
            f"You are the answerer in a game of twenty questions. The hidden object is: "
            f"{self.secret}. Answer the player's question about it truthfully with Yes or No "
            "only. Never say the object's name."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]

    def llm_answer(self, reply: str) -> str:
        words = reply.strip().lower().split()
        first = words[0].strip(".,!:;") if words else ""
        return {"yes": "Yes.", "no": "No."}.get(first, "I don't know.")

    def guess_action(self, candidate: str) -> str:
        article = "an" if candidate[0] in "aeiou" else "a"
        return f"Is it {article} {candidate}?"
