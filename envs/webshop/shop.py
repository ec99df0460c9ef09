"""The shop behind both the web site and the text environment: catalogue, pages, routes, sessions.

:class:`Shop` answers ``handle(method, path, args, form)`` with a :class:`Response` (a page or
a redirect). The Flask app (:mod:`.app`) passes every request to it; the text environment calls
it in-process with the URL of what the agent clicked. So the site a person or a browser uses and
the text environment run the same code. URLs (the state of a page lives in its URL; a session
holds its goal and purchase)::

    /<session>                                   search page (POST search_query: search)
    /search_results/<session>?keywords=..&page=N results, 10 a page, 50 in all
    /item_page/<session>/<asin>?keywords=..&page=N&options={json}
    /item_sub_page/<session>/<asin>/<Description|Features|Reviews|Attributes>?...
    /done/<session>/<asin>?options={json}         buy: the reward, and the session is done

A session named ``fixed_<goal>`` or ``fixed_<goal>_<tag>`` shops for goal ``<goal>``; any other
name draws a goal by the goals' weights, as the original does. Unknown sessions, ASINs, pages,
options or routes get a 404 page that says which input was wrong (escaped), never a traceback.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import jinja2

from .data import build_products, load_products, product_prices
from .goals import build_goals
from .nouns import NounExtractor, get_noun_extractor
from .reward import get_reward
from .search import SearchIndex
from .synthetic import generate_records

PRODUCT_WINDOW = 10
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
MAX_QUERY_CHARS = 1000
MAX_SESSIONS = 10_000
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIXED_SESSION = re.compile(r"^fixed_(\d{1,9})(?:_[A-Za-z0-9-]+)?$")
PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
PLACEHOLDER_IMAGE = "/static/no-image.svg"


class Catalogue:
    """Products, their prices, goals and the search index (built on first use)."""

    def __init__(self, products: list[dict[str, Any]], goals: str = "auto", seed: int = 0):
        self.products = products
        self.by_asin = {p["asin"]: p for p in products}
        self.prices = product_prices(products, seed)
        self.goals = build_goals(products, self.prices, goals, seed)
        self.weights = [goal["weight"] for goal in self.goals]

    @cached_property
    def index(self) -> SearchIndex:
        return SearchIndex(self.products)

    def check_goal_index(self, index: Any) -> int:
        """``index`` if it names a goal, else a ``ValueError`` saying the allowed range."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"goal index must be an int, got {index!r}")
        if not 0 <= index < len(self.goals):
            raise ValueError(f"goal index {index} is out of range [0, {len(self.goals)})")
        return index


@lru_cache(maxsize=4)
def load_catalogue(
    data_dir: str | None = None,
    num_products: int | None = 1000,
    seed: int = 0,
    goals: str = "auto",
) -> Catalogue:
    """The original's files from ``data_dir`` (first ``num_products``; ``None``: all), or the
    synthetic catalogue of ``num_products`` products (seeded) when ``data_dir`` is ``None``.
    Cached per process: environments of one process share one catalogue and index."""
    if data_dir is None:
        items, attributes = generate_records(num_products or 1000, seed)
        products = build_products(items, attributes, source=f"synthetic({num_products}, {seed})")
    else:
        products = load_products(data_dir, num_products=num_products)
    return Catalogue(products, goals, seed)


@lru_cache(maxsize=4096)
def _page_state(keywords: str, page: int) -> str:
    return urlencode({"keywords": keywords, "page": page})


@lru_cache(maxsize=4096)
def _options_state(options_json: str) -> str:
    return "options=" + quote_plus(options_json)


class Urls:
    """The paths of the routes in the module docstring (their query strings cached)."""

    @staticmethod
    def index(session_id: str) -> str:
        return f"/{session_id}"

    @staticmethod
    def results(session_id: str, keywords: str, page: int) -> str:
        return f"/search_results/{session_id}?{_page_state(keywords, page)}"

    @staticmethod
    def _state(keywords: str, page: int, options: dict[str, str]) -> str:
        return f"{_page_state(keywords, page)}&{_options_state(json.dumps(options))}"

    def item(self, session_id: str, asin: str, keywords: str, page: int, options: dict) -> str:
        return f"/item_page/{session_id}/{asin}?{self._state(keywords, page, options)}"

    def sub_page(self, session_id, asin, keywords, page, sub_page, options) -> str:
        state = self._state(keywords, page, options)
        return f"/item_sub_page/{session_id}/{asin}/{sub_page}?{state}"

    @staticmethod
    def done(session_id: str, asin: str, options: dict) -> str:
        return f"/done/{session_id}/{asin}?{_options_state(json.dumps(options))}"


URLS = Urls()


@dataclass
class Session:
    """One shopper: the goal, and the purchase once made."""

    goal_index: int
    goal: dict[str, Any]
    done: bool = False
    reward: float | None = None
    reward_info: dict[str, Any] | None = None


@dataclass
class Response:
    """A page (``html``) or a redirect (``location``), with its HTTP status."""

    status: int = 200
    html: str | None = None
    location: str | None = None


class BadRequest(Exception):
    """An input the shop cannot serve; the message says which (shown escaped, status 404)."""


def with_option(options: dict[str, str], name: str, value: str) -> dict[str, str]:
    return {**options, name: value}


def image_url(product: dict[str, Any]) -> str:
    """The product's image if the app serves it, else the placeholder (nothing remote)."""
    image = product.get("MainImage")
    return image if isinstance(image, str) and image.startswith("/static/") else PLACEHOLDER_IMAGE


class Shop:
    """Pages, routes and sessions over one catalogue (see the module docstring).

    Args:
        catalogue: products, goals and index.
        show_attributes: show the Attributes tab on item pages (the original's ``--attrs``).
        noun_extractor: ``heuristic`` or ``spacy`` (see :mod:`.nouns`), for the reward.
        seed: seeds the weighted goal draw of sessions without a fixed goal.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        show_attributes: bool = False,
        noun_extractor: str | NounExtractor = "heuristic",
        seed: int = 0,
    ):
        self.catalogue = catalogue
        self.sub_pages = SUB_PAGES if show_attributes else SUB_PAGES[:3]
        self.nouns = get_noun_extractor(noun_extractor)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._search = lru_cache(maxsize=2048)(self._search_uncached)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.globals.update(
            urls=URLS,
            static_url=lambda name: f"/static/{name}",
            image_url=image_url,
            with_option=with_option,
            max_query_chars=MAX_QUERY_CHARS,
        )

    # -- sessions ----------------------------------------------------------------------------
    def session(self, session_id: str, create: bool = False) -> Session:
        """The session ``session_id`` (made on first visit of the search page if ``create``)."""
        if not SESSION_ID.match(session_id):
            raise BadRequest(f"session id {session_id!r} is malformed (use letters, digits, _ -)")
        with self._lock:
            if session_id in self.sessions:
                self.sessions.move_to_end(session_id)
                return self.sessions[session_id]
            if not create:
                raise BadRequest(f"unknown session {session_id!r}; start at /{session_id}")
            fixed = FIXED_SESSION.match(session_id)
            if fixed:
                try:
                    index = self.catalogue.check_goal_index(int(fixed.group(1)))
                except ValueError as error:
                    raise BadRequest(str(error)) from None
            else:
                weights = self.catalogue.weights
                index = self._rng.choices(range(len(weights)), weights)[0]
            session = Session(index, self.catalogue.goals[index])
            self.sessions[session_id] = session
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
            return session

    def new_session_id(self) -> str:
        return secrets.token_hex(8)

    # -- search ------------------------------------------------------------------------------
    def _search_uncached(self, keywords: str) -> tuple[str, ...]:
        return tuple(self.catalogue.index.search(keywords))

    def search(self, keywords: str) -> list[dict[str, Any]]:
        """The top 50 products for ``keywords`` (the original's ``search_engine.search``)."""
        return [self.catalogue.by_asin[asin] for asin in self._search(keywords)]

    # -- pages -------------------------------------------------------------------------------
    def render(self, template: str, **values: Any) -> str:
        return self.templates.get_template(template).render(**values)

    def error_page(self, message: str, title: str = "Page not found", status: int = 404):
        return Response(status, self.render("error_page.html", title=title, message=message))

    def handle(
        self,
        method: str,
        path: str,
        args: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Response:
        """Serve one request; bad input gets a 404 page naming it."""
        try:
            return self._route(method.upper(), path, args or {}, form or {})
        except BadRequest as error:
            return self.error_page(str(error))

    def _route(self, method: str, path: str, args: dict, form: dict) -> Response:
        parts = [part for part in path.split("/") if part]
        if not parts:
            return Response(302, location=URLS.index(self.new_session_id()))
        route, rest = parts[0], parts[1:]
        if route == "static":  # files the app serves; anything else under it does not exist
            raise BadRequest(f"no file at {path[:200]!r}")
        if len(parts) == 1:
            return self.search_page(route, method, form)
        if route == "search_results" and len(rest) == 1:
            return self.results_page(rest[0], args)
        if route == "item_page" and len(rest) == 2:
            return self.item_page(*rest, args)
        if route == "item_sub_page" and len(rest) == 3:
            return self.item_sub_page(*rest, args)
        if route == "done" and len(rest) == 2:
            return self.done_page(*rest, args)
        raise BadRequest(f"no page at {path[:200]!r}")

    def search_page(self, session_id: str, method: str, form: dict) -> Response:
        session = self.session(session_id, create=True)
        query = str(form.get("search_query", ""))[:MAX_QUERY_CHARS]
        if method == "POST" and query.strip():
            return Response(302, location=URLS.results(session_id, query.lower(), 1))
        html = self.render(
            "search_page.html",
            session_id=session_id,
            instruction_text=session.goal["instruction_text"],
        )
        return Response(200, html)

    def _page_state(self, args: dict) -> tuple[str, int]:
        keywords = str(args.get("keywords", ""))[:MAX_QUERY_CHARS]
        page = str(args.get("page", "1"))
        if not page.isdigit() or not 1 <= int(page) <= 10_000:
            raise BadRequest(f"page {page[:50]!r} is not a page number (1, 2, ...)")
        return keywords, int(page)

    def _product(self, asin: str) -> dict[str, Any]:
        if asin not in self.catalogue.by_asin:
            raise BadRequest(f"no product with ASIN {asin[:50]!r}")
        return self.catalogue.by_asin[asin]

    def _options(self, product: dict[str, Any], args: dict) -> dict[str, str]:
        text = str(args.get("options", "{}"))
        try:
            options = json.loads(text) if len(text) <= 10_000 else None
        except json.JSONDecodeError:
            options = None
        if not isinstance(options, dict) or not all(
            isinstance(value, str) and value in product["options"].get(name, ())
            for name, value in options.items()
        ):
            raise BadRequest(f"options {text[:100]!r} are not options of {product['asin']}")
        return options

    def results_page(self, session_id: str, args: dict) -> Response:
        session = self.session(session_id)
        keywords, page = self._page_state(args)
        found = self.search(keywords)
        html = self.render(
            "results_page.html",
            session_id=session_id,
            instruction_text=session.goal["instruction_text"],
            products=found[(page - 1) * PRODUCT_WINDOW : page * PRODUCT_WINDOW],
            keywords=keywords,
            page=page,
            total=len(found),
        )
        return Response(200, html)

    def _product_page(self, template: str, session_id: str, asin: str, args: dict, **extra):
        session = self.session(session_id)
        product = self._product(asin)
        keywords, page = self._page_state(args)
        html = self.render(
            template,
            session_id=session_id,
            instruction_text=session.goal["instruction_text"],
            product_info=product,
            asin=asin,
            keywords=keywords,
            page=page,
            options=self._options(product, args),
            **extra,
        )
        return Response(200, html)

    def item_page(self, session_id: str, asin: str, args: dict) -> Response:
        return self._product_page(
            "item_page.html", session_id, asin, args, sub_pages=self.sub_pages
        )

    def item_sub_page(self, session_id: str, asin: str, sub_page: str, args: dict) -> Response:
        if sub_page not in SUB_PAGES:
            raise BadRequest(f"no sub-page {sub_page[:50]!r}; pages: {', '.join(SUB_PAGES)}")
        return self._product_page("sub_page.html", session_id, asin, args, sub_page=sub_page)

    def done_page(self, session_id: str, asin: str, args: dict) -> Response:
        session = self.session(session_id)
        product = self._product(asin)
        options = self._options(product, args)
        price = self.catalogue.prices[asin]
        reward, info = get_reward(product, session.goal, price, options, self.nouns)
        session.done, session.reward, session.reward_info = True, reward, info
        html = self.render("done_page.html", asin=asin, options=options, reward=reward)
        return Response(200, html)
