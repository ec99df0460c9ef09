"""Prompt template and action parsing.

The prompt holds the task, the last ``history`` turns, the current observation and (optionally)
the admissible actions; the model answers in the chat template's assistant turn. In ``generate``
mode the action is read from ``<action>...</action>`` after an optional ``<think>`` block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM_PROMPT_GENERATE = (
    "You are an agent in a text world. Think briefly inside <think>...</think> if you like, "
    "then give exactly one action inside <action>...</action>."
)

_ACTION = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def parse_action(text: str) -> str | None:
    """The last ``<action>...</action>`` outside any ``<think>`` block, stripped; else ``None``.

    >>> parse_action("<think>the key is here</think><action>take key</action>")
    'take key'
    """
    matches = _ACTION.findall(_THINK.sub("", text))
    if not matches:
        return None
    action = matches[-1].strip()
    return action or None


@dataclass(frozen=True)
class PromptTemplate:
    """Builds the chat messages of one step.

    Attributes:
        history: how many previous (observation, action) turns to show.
        list_admissible: whether to list the admissible actions in the prompt.
        system_prompt: the system message (empty: none).
    """

    history: int = 0
    list_admissible: bool = True
    system_prompt: str = SYSTEM_PROMPT_GENERATE

    def messages(
        self,
        task: str,
        observation: str,
        admissible_actions: list[str],
        past: list[tuple[str, str]] = (),
    ) -> list[dict[str, str]]:
        """``past`` holds (observation, action) pairs, oldest first."""
        lines = [f"Task: {task}"] if task else []
        recent = past[-self.history :] if self.history > 0 else []
        if recent:
            lines.append("Recent turns:")
            for old_observation, old_action in recent:
                lines += [f"Observation: {old_observation}", f"Action: {old_action}"]
        lines.append(f"Observation: {observation}")
        if self.list_admissible and admissible_actions:
            lines.append("Admissible actions: " + " | ".join(admissible_actions))
        messages = [{"role": "user", "content": "\n".join(lines)}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages


def template_corpus() -> list[str]:
    """Fixed text of the templates, for training a tokenizer that encodes them compactly."""
    fixed = [
        SYSTEM_PROMPT_GENERATE,
        "Task: Recent turns: Observation: Action: Admissible actions: ",
        "<think></think><action></action>",
        "system\n user\n assistant\n",
    ]
    return fixed * 100  # repeated so that BPE merges them into few tokens
