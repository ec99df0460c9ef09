"""The WebShop site over real HTTP on 127.0.0.1: routes, static files, sessions, and attempts to
break it (unknown ASINs, injected markup, ``../`` paths, huge queries, malformed URLs)."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import quote, urlencode, urlsplit

import pytest

from turngym.envs.webshop.app import ShopServer
from turngym.envs.webshop.pages import parse_page
from turngym.envs.webshop.reward import get_reward
from turngym.envs.webshop.shop import STATIC_DIR, Shop


@pytest.fixture(scope="module")
def server(catalogue):
    with ShopServer(Shop(catalogue)) as running:
        yield running


def request(server, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str]:
    """One request, the path sent exactly as given."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    data = urlencode(body) if body is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    text = response.read().decode("utf-8", "replace")
    connection.close()
    return response.status, dict(response.getheaders()), text


def follow(server, method: str, path: str, body: dict | None = None) -> tuple[int, str, str]:
    status, headers, text = request(server, method, path, body)
    while status == 302:
        path = urlsplit(headers["Location"]).path + "?" + urlsplit(headers["Location"]).query
        status, headers, text = request(server, "GET", path)
    return status, path, text


def click(server, page_html: str, name: str) -> tuple[int, str, str]:
    clickable = parse_page(page_html).clickables[name]
    return follow(server, clickable.method, clickable.url)


def test_a_whole_visit(server, catalogue) -> None:
    status, headers, _ = request(server, "GET", "/")
    assert status == 302 and urlsplit(headers["Location"]).path.strip("/")
    goal = catalogue.goals[3]
    status, _, html = follow(server, "GET", "/fixed_3_visit")
    assert status == 200 and parse_page(html).instruction() == goal["instruction_text"]
    status, path, html = follow(server, "POST", "/fixed_3_visit", {"search_query": goal["query"]})
    assert status == 200 and path.startswith("/search_results/fixed_3_visit?")
    asin = next(n for n, c in parse_page(html).clickables.items() if c.kind == "link")
    status, _, html = click(server, html, asin)
    product = catalogue.by_asin[asin.upper()]
    assert status == 200 and product["Title"] in html
    status, _, done = click(server, html, "buy now")
    expected, _ = get_reward(product, goal, catalogue.prices[product["asin"]], {})
    assert status == 200 and parse_page(done).text().endswith(f" [SEP] {expected}")


def test_static_files_are_the_apps_own(server) -> None:
    for name in ("style.css", "webshop.js", "no-image.svg"):
        status, _, text = request(server, "GET", f"/static/{name}")
        assert status == 200 and text == (STATIC_DIR / name).read_text()
    _, _, html = follow(server, "GET", "/fixed_0_static")
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/static/../shop.py", "/static/%2e%2e/shop.py", "/static/..%2fshop.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/../../../../etc/passwd",
        "/static//etc/passwd", "/static/templates/../../app.py", "/static/",
    ],
)  # fmt: skip
def test_no_file_outside_the_app_is_served(server, path) -> None:
    status, _, text = request(server, "GET", path)
    assert status == 404, path
    assert "import" not in text and "root:" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    "path",
    [
        "/item_page/fixed_0_bad/B0NOTTHERE?page=1",
        "/item_page/fixed_0_bad/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/item_sub_page/fixed_0_bad/{asin}/Secrets",
        "/item_page/fixed_0_bad/{asin}?options=" + quote("{not json"),
        "/item_page/fixed_0_bad/{asin}?options=" + quote(json.dumps({"color": "<b>x</b>"})),
        "/item_page/fixed_0_bad/{asin}?options=" + quote("[1, 2]"),
        "/search_results/fixed_0_bad?keywords=x&page=-1",
        "/search_results/fixed_0_bad?keywords=x&page=" + "9" * 50,
        "/search_results/nosuchsession?keywords=x",
        "/done/nosuchsession/{asin}",
        "/fixed_999999999", "/bad%20session%21", "/a/b/c/d/e/f", "/%00",
    ],
)  # fmt: skip
def test_bad_urls_get_a_plain_404(server, catalogue, path) -> None:
    follow(server, "GET", "/fixed_0_bad")  # the session exists
    status, _, text = request(server, "GET", path.replace("{asin}", catalogue.products[0]["asin"]))
    assert status == 404, path
    assert "Traceback" not in text and "<script>" not in text and "<b>x" not in text
    assert 'id="error"' in text


def test_injected_markup_and_huge_queries(server) -> None:
    follow(server, "GET", "/fixed_1_inject")
    injected = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    status, path, html = follow(server, "POST", "/fixed_1_inject", {"search_query": injected})
    assert status == 200 and "<script>alert" not in html and "<img src=x" not in html
    for query in ("shoes " * 10_000, "é∂ƒ 🤖 中文 " * 500):
        status, _, html = follow(server, "POST", "/fixed_1_inject", {"search_query": query})
        assert status == 200 and "Total results" in html
    status, _, text = request(server, "POST", "/fixed_1_inject", {"search_query": "x" * 200_000})
    assert status == 413 and "Traceback" not in text  # more than a search form holds
    status, _, html = follow(server, "GET", "/search_results/fixed_1_inject?keywords=" + "a" * 5000)
    assert status == 200


def test_concurrent_sessions_are_isolated(server, catalogue) -> None:
    results: dict[int, tuple] = {}

    def shop_for(goal_index: int) -> None:
        session = f"fixed_{goal_index}_iso"
        goal = catalogue.goals[goal_index]
        _, _, page = follow(server, "GET", f"/{session}")
        _, _, html = follow(server, "POST", f"/{session}", {"search_query": goal["query"]})
        asin = next(n for n, c in parse_page(html).clickables.items() if c.kind == "link")
        _, _, html = click(server, html, asin)
        _, _, done = click(server, html, "buy now")
        results[goal_index] = (page, asin, done)

    threads = [threading.Thread(target=shop_for, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == list(range(12))
    for goal_index, (page, asin, done) in results.items():
        goal = catalogue.goals[goal_index]
        assert parse_page(page).instruction() == goal["instruction_text"]
        product = catalogue.by_asin[asin.upper()]
        expected, _ = get_reward(product, goal, catalogue.prices[product["asin"]], {})
        assert parse_page(done).text().endswith(f" [SEP] {expected}")


def test_fuzzed_urls_and_forms_never_break_the_site(server, catalogue) -> None:
    import random

    rng = random.Random(0)
    asin = catalogue.products[0]["asin"]
    segments = ["fixed_0_fuzz", "search_results", "item_page", "item_sub_page", "done", "static",
                asin, "Reviews", "..", "%2e%2e", "%00", "%ff%fe", "<b>", "%3Cscript%3E", "a" * 300,
                "?page=0", "?options=%7B", "?keywords=%22%27", "&page=abc", "#x", "~",
                "%"]  # fmt: skip
    follow(server, "GET", "/fixed_0_fuzz")
    for _ in range(150):
        path = "/" + "/".join(rng.choices(segments, k=rng.randint(1, 5)))
        method = rng.choice(["GET", "POST"])
        form = (
            {"search_query": rng.choice(["", "<i>x</i>", "é" * 50, "\x00"])}
            if method == "POST"
            else None
        )
        status, _, text = request(server, method, path, form)
        assert status in (200, 302, 400, 404, 405), (path, status)
        assert "Traceback" not in text and "<script>" not in text and "<b>" not in text, path
