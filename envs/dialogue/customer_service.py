"""``turngym/CustomerService-v0``: help a simulated customer with a hidden goal.

Each task (id -> a seeded scenario) is a customer with a persona (patient, plain or impatient:
6, 4 or 3 turns of patience), an account of two or three orders, and one problem: a refund, a
delivery question, a cancellation, an address change, a password reset or a size exchange. The
agent is a support agent: it sees the customer's message and a support console with the
account's orders, and answers in free text. The customer holds facts the console lacks (the new
address, the email, the size) and gives each when asked for it.

The customer's rules (deterministic by default; ``answerer="llm"`` words the customer's replies
with a language model given the persona, the goal and the facts, while the rules below still
decide):

- a reply that does what the goal needs, with the right order and values ("I have issued a
  refund for order 4821.", "... sent a password reset link to ana@mail.com"), satisfies the
  customer: reward 1, ``won``, the episode ends;
- a reply that asks for a fact the customer holds ("What is your email address?") gets it; asking
  again for what was already given costs a turn of patience;
- a rude reply costs two turns of patience, any other reply that does not help one; with no
  patience left the customer gives up (the episode ends, reward 0); the step cap is 10;
- a reply with no word a support agent would use is invalid (the contract's invalid action).

The rubric judge (``rubric_judge`` scorer with ``rubric: customer_service``) adds a graded
reward for resolution, correctness and politeness through ``reward.scorers``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from ..core import TextEnv
from .simulated_user import ChatFunction, answerer_chat
from .text import normalize

NAMES = (
    "Ana Silva", "Ben Okafor", "Chen Wei", "Dana Cohen", "Eli Novak", "Fatima Zahra", "Gus Berg",
    "Hana Sato", "Ivan Petrov", "Julia Rossi", "Kofi Mensah", "Lena Vogel",
)  # fmt: skip
PRODUCTS = (
    "blender", "headphones", "desk lamp", "running shoes", "backpack", "coffee maker",
    "rain jacket", "phone case", "water bottle", "keyboard", "yoga mat", "kettle",
)  # fmt: skip
STREETS = ("12 Oak Street", "7 River Road", "45 Hill Avenue", "3 Lake Lane", "88 Pine Street",
           "21 Market Square", "9 Garden Way", "60 Station Road")  # fmt: skip
PERSONAS = {"patient": 6, "plain": 4, "impatient": 3}
GOALS = ("refund", "track", "cancel", "address", "password", "exchange")
RUDE = re.compile(r"\b(stupid|idiot|shut up|not my problem|whatever|dumb|go away|useless)\b")
#: words a support reply uses; a reply with none of them is not a reply (an invalid action)
SUPPORT_WORDS = frozenset(
    "you your yours we our sorry please thank thanks help hello order orders refund refunded "
    "address email password reset cancel cancelled canceled tracking track package shipped "
    "delivered delivery replace replacement exchange size account could would can will what "
    "which when how the and for with have has been issued sent happy glad apologise apologize "
    "understand check number problem anything else customer".split()
)
#: fact -> phrases of an agent's reply that ask for it
ASKS = {
    "email": r"e ?mail",
    "new_address": r"(?:new|correct|shipping|delivery) address|address (?:should|do you want)|"
                   r"which address|what address",
    "size": r"\bsize\b",
    "order": r"order (?:number|id)|which order|what order",
}  # fmt: skip


@dataclass
class Order:
    number: str
    product: str
    status: str  # "delivered", "shipped", "processing"
    tracking: str
    arrives: str


@dataclass
class Scenario:
    name: str
    persona: str
    goal: str
    orders: list[Order]
    target: Order
    facts: dict[str, str] = field(default_factory=dict)  # what the customer holds

    @property
    def email(self) -> str:
        return self.name.split()[0].lower() + "@mail.com"


def make_scenario(task_id: int) -> Scenario:
    """The seeded scenario of ``task_id`` (the goal cycles through :data:`GOALS`)."""
    rng = random.Random(task_id)
    goal = GOALS[task_id % len(GOALS)]
    products = rng.sample(PRODUCTS, rng.randint(2, 3))
    numbers = rng.sample(range(1000, 9999), len(products))
    statuses = ["delivered", "shipped", "processing"]
    orders = []
    for k, (product, number) in enumerate(zip(products, numbers, strict=True)):
        status = statuses[k % 3] if goal != "track" else rng.choice(statuses)
        orders.append(Order(str(number), product, status, f"ZX{rng.randint(10000, 99999)}",
                            f"{rng.randint(2, 28)} May"))  # fmt: skip
    wanted = {"refund": "delivered", "exchange": "delivered", "track": "shipped",
              "cancel": "processing", "address": "processing"}.get(goal)  # fmt: skip
    candidates = [o for o in orders if o.status == wanted] if wanted else orders
    target = rng.choice(candidates) if candidates else orders[0]
    if wanted and target.status != wanted:
        target.status = wanted
    scenario = Scenario(rng.choice(NAMES), rng.choice(list(PERSONAS)), goal, orders, target)
    scenario.facts["order"] = target.number
    scenario.facts["email"] = scenario.email
    if goal == "address":
        scenario.facts["new_address"] = rng.choice(STREETS)
    if goal == "exchange":
        scenario.facts["size"] = rng.choice(("small", "medium", "large"))
    return scenario


#: what each goal needs said: (the fact the reply must hold, phrases of the action)
RESOLUTIONS = {
    "refund": (("order",), r"refund"),
    "track": (("tracking",), r"track|ship|arriv|deliver"),
    "cancel": (("order",), r"cancel"),
    "address": (("order", "new_address"), r"address|ship|deliver|chang|updat"),
    "password": (("email",), r"reset|password"),
    "exchange": (("order", "size"), r"exchang|replac|send"),
}
OPENINGS = {
    "refund": "Hi, the {product} I ordered does not work. I want my money back.",
    "track": "Hello, where is my {product}? It still has not arrived.",
    "cancel": "I ordered the {product} by mistake, please cancel it.",
    "address": "I need my {product} delivered to a different address.",
    "password": "I can't log in to my account, I forgot my password.",
    "exchange": "The {product} I got is the wrong size. I need another size.",
}
NEEDS = {
    "refund": "a refund", "track": "to know where my order is", "cancel": "the order cancelled",
    "address": "the delivery address changed", "password": "a password reset",
    "exchange": "the right size",
}  # fmt: skip


class CustomerServiceEnv(TextEnv):
    """Customer service (see the module docstring).

    Args:
        answerer: ``"rule"`` (default) or ``"llm"`` (the customer's words from a language model).
        chat: for ``"llm"``: endpoint settings or a chat function
            (:mod:`turngym.envs.dialogue.simulated_user`).
    """

    num_tasks = 10_000
    task = "Help the customer: resolve their problem correctly and politely."
    invalid_action_answer = "The customer looks puzzled: that is not a reply they understand."

    def __init__(
        self,
        answerer: str = "rule",
        chat: ChatFunction | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode)
        self._chat = answerer_chat(answerer, chat)
        self.scenario: Scenario | None = None

    # -- the contract ---------------------------------------------------------------------------
    def _start(self, task_id: Any) -> tuple[str, dict[str, Any]]:
        self.scenario = make_scenario(task_id)
        self.revealed: set[str] = set()
        self.patience = PERSONAS[self.scenario.persona]
        self.won = self.gave_up = False
        opening = OPENINGS[self.scenario.goal].format(product=self.scenario.target.product)
        return f"{self.task}\n{self.console()}\nCustomer: {opening}", self.state_info()

    def console(self) -> str:
        s = self.scenario
        lines = [f"Support console - customer {s.name}, orders:"]
        for order in s.orders:
            lines.append(f"order {order.number}: {order.product}, {order.status}, tracking "
                         f"{order.tracking}, arrives {order.arrives}")  # fmt: skip
        return "\n".join(lines)

    def state_info(self) -> dict[str, Any]:
        known = sorted(self.revealed)
        return {
            "task": self.task,
            "task_type": self.scenario.goal,
            "admissible_actions": self.suggested_replies(),
            "state_key": f"knows {', '.join(known) or 'nothing'}; patience {self.patience}"
            + ("; resolved" if self.won else ""),
            "won": self.won,
        }

    def _invalid_answer(self) -> tuple[str, dict[str, Any]]:
        return self.invalid_action_answer, {"invalid_action": True, **self.state_info()}

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        text = normalize(action)
        if not SUPPORT_WORDS & set(text.split()):
            observation, info = self._invalid_answer()
            return observation, 0.0, False, info
        s = self.scenario
        if self.resolves(text):
            self.won = True
            return self.say("satisfied", "Thank you, that solves it!"), 1.0, True, self.state_info()
        asked = [f for f, pattern in ASKS.items() if f in s.facts and re.search(pattern, text)]
        if RUDE.search(text):
            self.patience -= 2
            event, line = "rude", "That is rude."
        elif asked and set(asked) <= self.revealed:
            self.patience -= 1
            event, line = "repeated", "I already told you that."
        elif asked:
            self.revealed.update(asked)
            line = " ".join(self.fact_sentence(f) for f in asked)
            event = "answer"
        else:
            self.patience -= 1
            event, line = "unhelped", f"That does not help. I need {NEEDS[s.goal]}."
        if self.patience <= 0:
            self.gave_up = True
            return self.say("gave up", "I give up. Goodbye."), 0.0, True, self.state_info()
        return self.say(event, line), 0.0, False, self.state_info()

    # -- the customer ---------------------------------------------------------------------------
    def resolves(self, text: str) -> bool:
        """The reply does what the goal needs with the right values (and no other order)."""
        s = self.scenario
        facts, action = RESOLUTIONS[s.goal]
        values = {**s.facts, "tracking": s.target.tracking}
        needed = [normalize(values[f]) for f in facts]
        others = [o.number for o in s.orders if o is not s.target]
        if any(re.search(rf"\b{n}\b", text) for n in others):
            return False
        return bool(re.search(action, text)) and all(
            re.search(rf"\b{re.escape(v)}\b", text) for v in needed
        )

    def fact_sentence(self, fact: str) -> str:
        value = self.scenario.facts[fact]
        sentences = {"email": f"My email is {value}.", "new_address": f"Please send it to {value}.",
                     "size": f"I need size {value}.", "order": f"It is order {value}."}  # fmt: skip
        return sentences[fact]

    def say(self, event: str, line: str) -> str:
        """The customer's words: the rule line, or the language model's wording of it."""
        if self._chat is None:
            return f"Customer: {line}"
        s = self.scenario
        system = (
            f"You are {s.name}, a {s.persona} customer talking to a support agent. You want "
            f"{NEEDS[s.goal]} for your {s.target.product}. Say this in one or two sentences, in "
            f"your own words, and nothing else: {line}"
        )
        reply = " ".join(self._chat([{"role": "system", "content": system},
                                     {"role": "user", "content": event}]).split())  # fmt: skip
        return f"Customer: {reply[:300] or line}"

    # -- suggestions and the expert -------------------------------------------------------------
    def suggested_replies(self) -> list[str]:
        """A menu of replies (``choose`` mode): questions for facts, then every order's
        resolution for the customer's goal with what is known so far."""
        s = self.scenario
        replies = ["Could you tell me your order number?", "What is your email address?",
                   "What is the new delivery address?", "Which size do you need?"]  # fmt: skip
        email = s.facts["email"] if "email" in self.revealed else "your email"
        address = (
            s.facts.get("new_address") if "new_address" in self.revealed else "the new address"
        )
        size = s.facts.get("size") if "size" in self.revealed else "the right size"
        for o in s.orders:
            replies += {
                "refund": [f"I have issued a refund for order {o.number}."],
                "track": [f"Your order {o.number} has shipped with tracking number {o.tracking} "
                          f"and arrives on {o.arrives}."],
                "cancel": [f"I have cancelled order {o.number}."],
                "address": [f"I have changed the delivery address of order {o.number} to "
                            f"{address}."],
                "password": [],
                "exchange": [f"I will send a replacement for order {o.number} in size {size}."],
            }[s.goal]  # fmt: skip
        if s.goal == "password":
            replies.append(f"I have sent a password reset link to {email}.")
        return replies + ["I am sorry for the trouble, let me check."]

    def expert_action(self) -> str:
        """Ask for the first fact the goal needs that the customer has not given, then resolve."""
        s = self.scenario
        facts, _ = RESOLUTIONS[s.goal]
        asks = {"email": 1, "new_address": 2, "size": 3}
        for fact in facts:
            if fact in asks and fact not in self.revealed:
                return self.suggested_replies()[asks[fact]]
        for reply in self.suggested_replies():
            if self.resolves(normalize(reply)):
                return reply
        raise RuntimeError(f"no suggested reply resolves task {self.task_id}")
