"""What an agent reads from a WebShop page: its text, its clickables, its search box.

One function reads the HTML the server renders (the text env) and the HTML a browser shows
(``page_source``, the browser env), so both give the same observations. The rules are the
original text env's (``web_agent_site/envs/web_agent_text_env.py``, which reads the page with
BeautifulSoup's ``html.parser``):

- visible text = every text node except inside ``style``, ``script``, ``head``, ``title``,
  ``meta``, and comments (CSS-hidden text counts: the original does not evaluate CSS);
- a text node of only white space is ``"\\n"`` if it holds a newline, else ``" "`` (as
  BeautifulSoup stores them), and ``"\\n"`` nodes are dropped;
- ``text`` mode: the stripped texts joined by `` [SEP] ``; ``text_rich`` mode: buttons as
  ``[button] t [button_]``, option labels as ``[clicked button]`` when chosen (then the page
  starts with ``You have clicked t.``), product links as ``[clicked button]`` once visited;
- clickables: the text of every ``.btn`` element, then of every ``.product-link``, lower-cased,
  then the value of every radio input, in that order (a later duplicate replaces an earlier one).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import lxml.html

IGNORED_TAGS = frozenset({"style", "script", "head", "title", "meta"})
PRESERVE_WHITESPACE_TAGS = frozenset({"pre", "textarea"})
SEP = " [SEP] "


@dataclass(frozen=True)
class Clickable:
    """Something to click: its kind (``button``, ``link``, ``radio``), its position among the
    page's elements of that kind, and where it leads (``method``, ``url``)."""

    kind: str
    ordinal: int
    method: str
    url: str
    option_name: str | None = None


@dataclass
class Page:
    """A parsed page: its text nodes (with the tag and classes around each), clickables and
    whether it has a search box."""

    texts: list[tuple[str, str, tuple[str, ...]]]
    clickables: dict[str, Clickable] = field(default_factory=dict)
    has_search_bar: bool = False

    def text(self) -> str:
        """The ``text`` observation: visible texts joined by `` [SEP] ``."""
        return SEP.join(text.strip() for text, _, _ in self.texts)

    def text_rich(self, chosen_options: Collection[str] = (), visited: Collection[str] = ()) -> str:
        """The ``text_rich`` observation (module docstring)."""
        observation = ""
        for text, tag, classes in self.texts:
            if tag == "button":
                shown = f"[button] {text} [button_]"
            elif tag == "label":
                if text in chosen_options:
                    shown = f"  [clicked button] {text} [clicked button_]"
                    observation = f"You have clicked {text}.\n" + observation
                else:
                    shown = f"  [button] {text} [button_]"
            elif classes == ("product-link",):
                mark = "clicked button" if text.upper() in visited else "button"
                shown = f"\n[{mark}] {text} [{mark}_]"
            else:
                shown = text
            observation += shown + "\n"
        return observation

    def instruction(self) -> str:
        """The goal text shown after ``Instruction:`` (empty on pages without it)."""
        texts = [text.strip() for text, _, _ in self.texts]
        if "Instruction:" in texts:
            index = texts.index("Instruction:")
            if index + 1 < len(texts):
                return texts[index + 1]
        return ""

    def after_instruction(self) -> str:
        """The ``text`` observation without the heading and instruction (verl-agent's anchor)."""
        texts = [text.strip() for text, _, _ in self.texts]
        instruction = self.instruction()
        if instruction and instruction in texts:
            texts = texts[texts.index(instruction) + 1 :]
        return SEP.join(texts)


def _classes(element) -> tuple[str, ...]:
    return tuple((element.get("class") or "").split())


def _form_target(button) -> tuple[str, str]:
    form = next(button.iterancestors("form"), None)
    if form is None:
        return "GET", ""
    return (form.get("method") or "get").upper(), form.get("action", "")


class _Reader:
    """One walk over the page's elements: visible texts in document order, and clickables."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str, tuple[str, ...]]] = []
        self.buttons, self.links, self.radios = [], [], []
        self.has_search_bar = False
        self.preserve = 0

    def add_text(self, text: str, enclosing) -> None:
        if enclosing.tag in IGNORED_TAGS:
            return
        if not text.strip() and not self.preserve:  # as BeautifulSoup keeps white space
            if "\n" in text:
                return
            text = " "
        self.texts.append((text, enclosing.tag, _classes(enclosing)))

    def walk(self, element) -> None:
        tag = element.tag
        classes = element.get("class")
        if classes:
            names = classes.split()
            if "btn" in names:
                self.buttons.append(element)
            if "product-link" in names:
                self.links.append(element)
        if tag == "input":
            if element.get("type") == "radio":
                self.radios.append(element)
            if element.get("id") == "search_input":
                self.has_search_bar = True
        preserving = tag in PRESERVE_WHITESPACE_TAGS
        self.preserve += preserving
        if element.text:
            self.add_text(element.text, element)
        for child in element:
            if isinstance(child.tag, str):
                self.walk(child)
            if child.tail:
                self.add_text(child.tail, element)
        self.preserve -= preserving


def parse_page(html: str) -> Page:
    """Parse one page's HTML (see the module docstring)."""
    root = lxml.html.document_fromstring(html) if html.strip() else lxml.html.Element("html")
    reader = _Reader()
    reader.walk(root)
    clickables: dict[str, Clickable] = {}
    for ordinal, button in enumerate(reader.buttons):
        clickables[button.text_content().lower()] = Clickable(
            "button", ordinal, *_form_target(button)
        )
    for ordinal, link in enumerate(reader.links):
        clickables[link.text_content().lower()] = Clickable(
            "link", ordinal, "GET", link.get("href")
        )
    for ordinal, radio in enumerate(reader.radios):
        clickables[radio.get("value") or ""] = Clickable(
            "radio", ordinal, "GET", radio.get("data-url"), radio.get("name")
        )
    return Page(reader.texts, clickables, reader.has_search_bar)
