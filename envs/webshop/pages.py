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
- clickables: the text of every ``.btn`` element and ``.product-link``, lower-cased, then the
  value of every radio input (a later duplicate replaces an earlier one).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

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


def _collapse(text: str, preserve: bool) -> str:
    if preserve or text.strip():
        return text
    return "\n" if "\n" in text else " "


def parse_page(html: str) -> Page:
    """Parse one page's HTML (see the module docstring)."""
    root = lxml.html.document_fromstring(html) if html.strip() else lxml.html.Element("html")
    texts: list[tuple[str, str, tuple[str, ...]]] = []
    clickables: dict[str, Clickable] = {}
    counts = {"button": 0, "link": 0, "radio": 0}
    has_search_bar = False
    preserve_depth = 0

    def add_text(text: str | None, parent) -> None:
        if not text or parent is None or not isinstance(parent.tag, str):
            return
        if parent.tag in IGNORED_TAGS:
            return
        text = _collapse(text, preserve_depth > 0)
        if text != "\n":
            texts.append((text, parent.tag, _classes(parent)))

    def add_clickable(name: str, kind: str, method: str, url: str, option: str | None = None):
        clickables[name] = Clickable(kind, counts[kind], method, url, option)
        counts[kind] += 1

    for event, element in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(element.tag, str):  # comments and processing instructions
            if event == "end":
                add_text(element.tail, element.getparent())
            continue
        if event == "start":
            if element.tag in PRESERVE_WHITESPACE_TAGS:
                preserve_depth += 1
            add_text(element.text, element)
            classes = _classes(element)
            if element.get("id") == "search_input":
                has_search_bar = True
            if "btn" in classes:
                form = next((a for a in element.iterancestors("form")), None)
                method = (form.get("method") or "get").upper() if form is not None else "GET"
                url = form.get("action", "") if form is not None else ""
                add_clickable(element.text_content().lower(), "button", method, url)
            if "product-link" in classes:
                add_clickable(element.text_content().lower(), "link", "GET", element.get("href"))
            if element.tag == "input" and element.get("type") == "radio":
                value = element.get("value") or ""
                add_clickable(value, "radio", "GET", element.get("data-url"), element.get("name"))
        else:
            if element.tag in PRESERVE_WHITESPACE_TAGS:
                preserve_depth -= 1
            add_text(element.tail, element.getparent())
    return Page(texts, clickables, has_search_bar)
