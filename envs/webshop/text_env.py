"""``turngym/WebShop-v0``: the WebShop text environment, in-process (no HTTP).

Each episode is a session of the shop (:mod:`.shop`) for goal ``task_id``. The environment asks
the shop for the pages an agent's actions lead to, the same way the web site does, and reads them
the way the original text env does (:mod:`.pages`)::

    WebShop [SEP] Instruction: [SEP] i need ... [SEP] Search
    > search[shampoo dry hair]
    Instruction: [SEP] ... [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > ...
    > click[b09jr7gswi]   > click[mint]   > click[buy now]     reward = the original's score

Actions are ``search[query]`` (when the page has a search box) and ``click[name]`` with ``name``
one of the page's clickables; as in the original, the bracketed text is lower-cased. Anything
else leaves the page as it was and sets ``info["invalid_action"]`` (the original ignores it, so
the observation is the unchanged page, not "Nothing happens."). Unlike the original text env,
which searches from any page, a search needs a page with a search box (as in a browser).

``admissible_actions`` lists the page's clickables as ``click[...]`` (without the Search
button, which the original does not click) and, on a page with a search box, concrete searches:
the goal's product query, each goal attribute followed by the query, and the instruction (the
original IL baseline's candidates, ``baseline_models/env.py``). ``state_key`` is the page's
text after the instruction (verl-agent's GiGPO anchor observation). On Buy Now the episode ends
with reward = ``info["score"]``, the original's score in [0, 1]; ``won`` is ``score == 1``.
Goals 0-499 are the test split, 500-1,499 eval, 1,500 on train (:data:`~.goals.SPLITS`).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from turngym.envs.core import TextEnv

from .pages import Page, parse_page
from .reward import fuzzy_ratio
from .shop import Shop, load_catalogue

ACTION = re.compile(r"(.+)\[(.+)\]")
OBSERVATION_MODES = ("text", "text_rich", "html")
_episode_counter = itertools.count()


def parse_action(action: str) -> tuple[str, str | None]:
    """``(name, argument)`` as the original parses ``name[argument]``; argument ``None`` if
    the action has no brackets."""
    match = ACTION.match(action)
    return (action, None) if match is None else (match.group(1), match.group(2))


def page_kind(url: str) -> str:
    """``search``, ``results``, ``item``, ``sub_page``, ``done`` or ``error`` for a path."""
    first = urlsplit(url).path.strip("/").split("/")[0]
    kinds = {"search_results": "results", "item_page": "item", "item_sub_page": "sub_page"}
    return kinds.get(first, "done" if first == "done" else "search")


def url_state(url: str) -> tuple[list[str], dict[str, str]]:
    """The path parts and query arguments of a shop URL."""
    parts = urlsplit(url)
    return [p for p in parts.path.split("/") if p], dict(parse_qsl(parts.query))


class WebShopEnv(TextEnv):
    """WebShop as a text environment (see the module docstring).

    Args:
        data_dir: folder with the original's data files; ``None``: the synthetic catalogue.
        num_products: products to use (the first N records, or the synthetic catalogue's size;
            ``None`` with ``data_dir``: all).
        seed: the synthetic catalogue's seed, and the seed of prices and price limits.
        goals: ``auto`` (human instructions when the data has them), ``synthetic`` or ``human``.
        observation_mode: ``text`` ([SEP]-joined visible text), ``text_rich`` or ``html``.
        show_attributes: show the Attributes tab on item pages.
        noun_extractor: ``heuristic`` (default) or ``spacy``, for the reward's title score.
        render_mode: ``ansi`` or ``human``.
    """

    invalid_action_answer = None  # an invalid action leaves the page unchanged

    def __init__(
        self,
        data_dir: str | None = None,
        num_products: int | None = 1000,
        seed: int = 0,
        goals: str = "auto",
        observation_mode: str = "text",
        show_attributes: bool = False,
        noun_extractor: str = "heuristic",
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(
                f"observation_mode={observation_mode!r} is unknown; choose one of "
                f"{list(OBSERVATION_MODES)}"
            )
        self.catalogue_args = (
            None if data_dir is None else str(data_dir),
            num_products,
            seed,
            goals,
        )
        self.observation_mode = observation_mode
        self.shop_args = {"show_attributes": show_attributes, "noun_extractor": noun_extractor}
        self._shop: Shop | None = None
        self.url, self.html, self.page = "", "", Page([])
        self.session_id = ""
        self.score: float | None = None
        self.visited: set[str] = set()  # ASINs whose page this episode opened (text_rich)

    # -- the shop, built on first use (in the worker process that plays) ----------------------
    @property
    def shop(self) -> Shop:
        if self._shop is None:
            self._shop = Shop(load_catalogue(*self.catalogue_args), **self.shop_args)
        return self._shop

    @property
    def num_tasks(self) -> int:  # type: ignore[override]
        return len(self.shop.catalogue.goals)

    @property
    def goal(self) -> dict[str, Any]:
        return self.shop.catalogue.goals[self.task_id]

    def check_task_id(self, task_id: Any) -> int:
        try:
            return self.shop.catalogue.check_goal_index(task_id)
        except ValueError as error:
            raise ValueError(f"task_id: {error}") from None

    # -- moving between pages (the browser env overrides these) --------------------------------
    def _open_session(self, session_id: str) -> None:
        self.shop.session(session_id, create=True)
        self._request("GET", f"/{session_id}")

    def _request(self, method: str, url: str, form: dict[str, str] | None = None) -> None:
        for _ in range(3):  # a search answers with a redirect to its results
            path, args = urlsplit(url).path, dict(parse_qsl(urlsplit(url).query))
            response = self.shop.handle(method, path, args, form)
            if response.location is None:
                break
            method, url, form = "GET", response.location, None
        self.url, self.html = url, response.html or ""
        self.page = parse_page(self.html)

    def _search(self, query: str) -> None:
        self._request("POST", f"/{self.session_id}", {"search_query": query})

    def _click(self, name: str) -> None:
        clickable = self.page.clickables[name]
        self._request(clickable.method, clickable.url)

    def _purchase_score(self) -> float | None:
        session = self.shop.sessions.get(self.session_id)
        return None if session is None else session.reward

    # -- the TextEnv hooks ----------------------------------------------------------------------
    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.session_id = f"fixed_{task_id}_{next(_episode_counter)}"
        self.score, self.visited = None, set()
        self._open_session(self.session_id)
        return self.observation(), {"task_type": self.goal["category"], **self.state_info()}

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.score is not None:  # bought already: nothing more happens
            return self.observation(), 0.0, True, {"invalid_action": True, **self.state_info()}
        name, argument = parse_action(action)
        argument = None if argument is None else argument.lower()
        if name == "search" and argument and self.page.has_search_bar:
            self._search(argument)
        elif name == "click" and argument in self.page.clickables and argument != "search":
            self._click(argument)
        else:
            return self.observation(), 0.0, False, {"invalid_action": True, **self.state_info()}
        reward, done = 0.0, False
        if page_kind(self.url) == "item":
            self.visited.add(url_state(self.url)[0][2])
        if page_kind(self.url) == "done":
            self.score = self._purchase_score()
            reward, done = float(self.score or 0.0), True
        return self.observation(), reward, done, self.state_info()

    def _invalid_answer(self) -> tuple[str, dict[str, Any]]:
        return self.observation(), {"invalid_action": True, **self.state_info()}

    # -- what the agent sees --------------------------------------------------------------------
    def observation(self) -> str:
        if self.observation_mode == "html":
            return self.html
        if self.observation_mode == "text_rich":
            _, args = url_state(self.url)
            return self.page.text_rich(self._chosen_options(args).values(), self.visited)
        return self.page.text()

    @staticmethod
    def _chosen_options(args: dict[str, str]) -> dict[str, str]:
        try:
            options = json.loads(args.get("options", "{}"))
        except json.JSONDecodeError:
            return {}
        return options if isinstance(options, dict) else {}

    def search_queries(self) -> list[str]:
        """The concrete searches offered on a page with a search box (module docstring)."""
        goal = self.goal
        queries = [goal["query"]] + [f"{a} {goal['query']}" for a in goal["attributes"]]
        queries.append(goal["instruction_text"].lower())
        return list(dict.fromkeys(" ".join(q.lower().split()) for q in queries))

    def admissible_actions(self) -> list[str]:
        actions = []
        if self.page.has_search_bar and self.score is None:
            actions += [f"search[{query}]" for query in self.search_queries()]
        if self.score is None:
            actions += [f"click[{name}]" for name in self.page.clickables if name != "search"]
        return actions

    def state_info(self) -> dict[str, Any]:
        if self.task_id is None:
            return {}
        info: dict[str, Any] = {
            "task": self.goal["instruction_text"],
            "admissible_actions": self.admissible_actions(),
            "state_key": self.page.after_instruction(),
            "won": self.score == 1.0,
        }
        if self.score is not None:
            info["score"] = self.score
        return info

    # -- the expert -----------------------------------------------------------------------------
    def expert_action(self) -> str:
        """The next move of a shopper who knows the goal: search the goal's attributes and
        query, open the goal's product, choose its options, buy."""
        if self.task_id is None or self.score is not None:
            raise RuntimeError("expert_action needs a reset episode that has not bought yet")
        kind, goal = page_kind(self.url), self.goal
        target = goal["asin"].lower()
        if kind == "search":
            return f"search[{self._best_query()}]"
        if kind == "results":
            if target in self.page.clickables:
                return f"click[{target}]"
            ranked = self.shop.search(url_state(self.url)[1].get("keywords", ""))
            asins = [p["asin"].lower() for p in ranked]
            page = int(url_state(self.url)[1].get("page", "1"))
            if target in asins:
                wanted_page = asins.index(target) // 10 + 1
                return "click[next >]" if wanted_page > page else "click[< prev]"
            products = [n for n, c in self.page.clickables.items() if c.kind == "link"]
            return f"click[{products[0]}]" if products else "click[back to search]"
        if kind == "sub_page":
            return "click[< prev]"
        if kind == "item":
            parts, args = url_state(self.url)
            if parts[2].lower() != target and self._target_reachable():
                return "click[< prev]"
            chosen = self._chosen_options(args)
            for name, value in self._wanted_options(parts[2]).items():
                if chosen.get(name) != value and value in self.page.clickables:
                    return f"click[{value}]"
            return "click[buy now]"
        return "click[back to search]"

    def _best_query(self) -> str:
        target = self.goal["asin"]

        def rank(query: str) -> int:
            found = [p["asin"] for p in self.shop.search(query)]
            return found.index(target) if target in found else len(found) + 1

        return min(self.search_queries(), key=rank)

    def _target_reachable(self) -> bool:
        keywords = url_state(self.url)[1].get("keywords", "")
        return self.goal["asin"] in {p["asin"] for p in self.shop.search(keywords)}

    def _wanted_options(self, asin: str) -> dict[str, str]:
        """For each of the goal's options, the product's option value that best matches it."""
        options = self.shop.catalogue.by_asin[asin]["options"]
        goal_options = self.goal["goal_options"]
        wanted = goal_options.values() if isinstance(goal_options, dict) else goal_options
        chosen = {}
        for want in wanted:
            best = max(
                ((fuzzy_ratio(v, want), n, v) for n, vs in options.items() for v in vs),
                default=None,
            )
            if best is not None and best[0] > 85 and best[1] not in chosen:
                chosen[best[1]] = best[2]
        return chosen
