"""Single-turn arithmetic for bench/grpo_vs_trl.py: ``turngym/BenchArithmetic-v0`` and its reward.

Task ``t`` asks for ``a + b`` or ``a * b`` with ``a, b`` drawn from ``t``'s own random stream; the
episode is one answer. The reward, the same function on both sides of the comparison, is 1 when
the last integer in the reply is the answer, else 0.1 x the fraction of the reply's characters
that are digits (so that an untrained policy's rewards differ within a group and its advantages
are not all zero).
"""

from __future__ import annotations

import random
import re

from turngym.envs import TextEnv, register_env

TASK = "Answer the question with a number."
NUM_TASKS = 2_000_000  # eval tasks from 1_000_000 (the config default) up


def problem(task_id: int) -> tuple[str, int]:
    rng = random.Random(task_id)
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    if rng.random() < 0.5:
        return f"What is {a} + {b}?", a + b
    return f"What is {a} * {b}?", a * b


def arithmetic_reward(reply: str, answer: int) -> float:
    numbers = re.findall(r"-?\d+", reply)
    if numbers and int(numbers[-1]) == answer:
        return 1.0
    return 0.1 * sum(c.isdigit() for c in reply) / max(len(reply), 1)


class ArithmeticEnv(TextEnv):
    num_tasks = NUM_TASKS

    def _start(self, task_id):
        self.question, self.answer = problem(task_id)
        return self.question, {"task": TASK, "admissible_actions": [], "state_key": self.question}

    def _act(self, action):
        reward = arithmetic_reward(action, self.answer)
        info = {"task": TASK, "admissible_actions": [], "won": reward == 1.0}
        return "done", reward, True, info


register_env("BenchArithmetic-v0", ArithmeticEnv, max_episode_steps=1)
