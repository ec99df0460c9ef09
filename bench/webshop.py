"""WebShop speed: the text env, the browser env and the served site under load.

- text: for each catalogue size, the time and resident memory to build the catalogue and its
  search index, then the median step latency of searches and clicks and episodes per second
  (expert episodes, each step's action and observation as an agent gets them). Reference,
  measured in the same run: the original text env's page reading (BeautifulSoup with
  ``html.parser``, which it runs twice a step: text and clickables) on the same pages, and the
  bm25s engine (k1 0.9, b 0.4, Porter stemmer, English stop words, as pyserini) on the same
  documents and queries.
- browser: median step latency of WebShop-Browser-v0 against WebShop-v0 on the same actions.
- site: N concurrent sessions on 127.0.0.1 for a bounded number of visits (search, open a
  product, buy; a deadline stops it too), errors, p50/p99 request latency, and whether any
  session saw another's goal or score. Reference: the same visits through ``Shop.handle``
  in-process, one thread.

    .venv/bin/python bench/webshop.py --part text --sizes 1000,100000
    .venv/bin/python bench/webshop.py --part browser
    .venv/bin/python bench/webshop.py --part site --sessions 50 --visits 10
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import statistics
import threading
import time
from urllib.parse import urlencode, urlsplit

import numpy as np

from turngym.envs.webshop.app import ShopServer
from turngym.envs.webshop.pages import parse_page
from turngym.envs.webshop.reward import get_reward
from turngym.envs.webshop.search import query_words, search_document
from turngym.envs.webshop.shop import Shop, load_catalogue
from turngym.envs.webshop.text_env import WebShopEnv


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def play_expert(env: WebShopEnv, tasks: range) -> tuple[dict[str, list[float]], float, list]:
    """Expert episodes; step latencies by kind, episodes per second, the HTML of every page."""
    latency: dict[str, list[float]] = {"search": [], "click": []}
    pages, start, episodes = [], time.perf_counter(), 0
    for task_id in tasks:
        env.reset(options={"task_id": task_id})
        for _ in range(15):
            action = env.expert_action()
            env.shop._search.cache_clear()  # a search step runs its query, as a new one would
            began = time.perf_counter()
            _, _, terminated, _, _ = env.step(action)
            latency["search" if action.startswith("search[") else "click"].append(
                time.perf_counter() - began
            )
            pages.append(env.html)
            if terminated:
                break
        episodes += 1
    return latency, episodes / (time.perf_counter() - start), pages


def bs4_reading_ms(pages: list[str]) -> float:
    """The original's per-step page reading: two BeautifulSoup parses (text, clickables)."""
    from bs4 import BeautifulSoup
    from bs4.element import Comment

    ignore = {"style", "script", "head", "title", "meta", "[document]"}
    times = []
    for html in pages:
        began = time.perf_counter()
        soup = BeautifulSoup(html, "html.parser")
        texts = [t for t in soup.find_all(string=True)
                 if t.parent.name not in ignore and not isinstance(t, Comment)]  # fmt: skip
        " [SEP] ".join(t.strip() for t in texts if t != "\n")
        soup = BeautifulSoup(html, "html.parser")
        soup.find(id="search_input")
        soup.find_all(class_="btn") + soup.find_all(class_="product-link")
        soup.select('input[type="radio"]')
        times.append(time.perf_counter() - began)
    return median_ms(times)


def lxml_reading_ms(pages: list[str]) -> float:
    times = []
    for html in pages:
        began = time.perf_counter()
        page = parse_page(html)
        page.text()
        times.append(time.perf_counter() - began)
    return median_ms(times)


def bm25s_reference(products: list[dict], queries: list[str]) -> tuple[float, float]:
    """(index build s, median query ms) of bm25s on the same documents and queries."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("porter")
    began = time.perf_counter()
    corpus = bm25s.tokenize([search_document(p) for p in products], stopwords="en",
                            stemmer=stemmer, show_progress=False)  # fmt: skip
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(corpus, show_progress=False)
    build = time.perf_counter() - began
    times = []
    for query in queries:
        began = time.perf_counter()
        tokens = bm25s.tokenize([" ".join(query_words(query))], stopwords="en", stemmer=stemmer,
                                show_progress=False)  # fmt: skip
        retriever.retrieve(tokens, k=min(50, len(products)), show_progress=False, n_threads=1)
        times.append(time.perf_counter() - began)
    return build, median_ms(times)


def bench_text(size: int, episodes: int) -> None:
    gc.collect()
    before, began = rss_mib(), time.perf_counter()
    catalogue = load_catalogue(None, size, 0)
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    index = catalogue.index
    built = time.perf_counter() - began
    memory = rss_mib() - before
    goals = catalogue.goals[:300]
    query_sets = {
        "instruction": [g["instruction_text"] for g in goals],
        "attribute + query": [f"{g['attributes'][0]} {g['query']}" for g in goals],
    }
    env = WebShopEnv(num_products=size)
    env.reset(options={"task_id": 0})
    latency, rate, pages = play_expert(env, range(episodes))
    ours_read, theirs_read = lxml_reading_ms(pages), bs4_reading_ms(pages)
    compared = {}
    for name, queries in query_sets.items():
        ours = []
        for query in queries:
            began = time.perf_counter()
            index.search(query)
            ours.append(time.perf_counter() - began)
        ref_build, ref_query = bm25s_reference(catalogue.products, queries)
        compared[name] = (median_ms(ours), ref_query)
    print(f"\n== text env, {size:,} products, {len(catalogue.goals):,} goals")
    print(f"catalogue generated and loaded in {loaded:.1f} s; index built in {built:.1f} s; "
          f"resident memory +{memory:.0f} MiB for both")  # fmt: skip
    print(f"index build: tantivy {built:.2f} s vs bm25s {ref_build:.2f} s "
          f"(ratio {built / ref_build:.2f})")  # fmt: skip
    for name, (ours_ms, ref_ms) in compared.items():
        print(f"one query ({name}): tantivy {ours_ms:.3f} ms vs bm25s {ref_ms:.3f} ms "
              f"(ratio {ours_ms / ref_ms:.3f})")  # fmt: skip
    print(f"step latency, median: search {median_ms(latency['search']):.3f} ms "
          f"({len(latency['search'])} steps), click {median_ms(latency['click']):.3f} ms "
          f"({len(latency['click'])} steps); {rate:.1f} expert episodes/s")  # fmt: skip
    print(
        f"reading a page, median: ours (lxml) {ours_read:.3f} ms vs the original's two "
        f"BeautifulSoup parses {theirs_read:.3f} ms (ratio {ours_read / theirs_read:.3f})"
    )


def bench_browser(episodes: int) -> None:
    from turngym.envs.webshop.browser_env import WebShopBrowserEnv

    browser, text = WebShopBrowserEnv(), WebShopEnv()
    try:
        began = time.perf_counter()
        browser.reset(options={"task_id": 0})
        start_s = time.perf_counter() - began
        ours, reference, resets = [], [], []
        for task_id in range(episodes):
            began = time.perf_counter()
            browser.reset(options={"task_id": task_id})
            resets.append(time.perf_counter() - began)
            text.reset(options={"task_id": task_id})
            for _ in range(15):
                action = text.expert_action()
                began = time.perf_counter()
                result = browser.step(action)
                ours.append(time.perf_counter() - began)
                began = time.perf_counter()
                assert text.step(action) == result
                reference.append(time.perf_counter() - began)
                if result[2]:
                    break
    finally:
        browser.close()
    print(f"\n== browser env ({episodes} expert episodes, {len(ours)} steps)")
    print(f"first reset (site + Chromium start) {start_s:.2f} s; reset median "
          f"{median_ms(resets):.1f} ms")  # fmt: skip
    print(
        f"step latency, median: browser {median_ms(ours):.1f} ms vs text env "
        f"{median_ms(reference):.3f} ms (ratio {median_ms(ours) / median_ms(reference):.0f})"
    )


class Client:
    """A keep-alive HTTP client for one session, following redirects."""

    def __init__(self, host: str, port: int):
        self.connection = http.client.HTTPConnection(host, port, timeout=30)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, float]:
        began = time.perf_counter()
        body = urlencode(form) if form else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        return response.status, response.getheader("Location") or text, time.perf_counter() - began


def visit(call, session: str, goal: dict) -> list[tuple[int, str]]:
    """search -> open the first product -> buy; returns each answer (status, body)."""
    answers = [call("GET", f"/{session}", None)]
    status, location = call("POST", f"/{session}", {"search_query": goal["query"]})
    answers.append((status, location))
    target = urlsplit(location)
    answers.append(call("GET", f"{target.path}?{target.query}", None))
    link = next(c for c in parse_page(answers[-1][1]).clickables.values() if c.kind == "link")
    answers.append(call("GET", link.url, None))
    buy = parse_page(answers[-1][1]).clickables["buy now"]
    answers.append(call(buy.method, buy.url, None))
    answers.append((0, link.url.split("/")[3].split("?")[0]))  # the product bought
    return answers


def check_visit(answers, goal: dict, catalogue) -> bool:
    """Did this session see its own goal, and the score of its own purchase?"""
    asin = answers[-1][1]
    if parse_page(answers[0][1]).instruction() != goal["instruction_text"]:
        return False
    product = catalogue.by_asin[asin]
    expected, _ = get_reward(product, goal, catalogue.prices[asin], {})
    return parse_page(answers[-2][1]).text().endswith(f" [SEP] {expected}")


def bench_site(sessions: int, visits: int, deadline_s: float) -> None:
    catalogue = load_catalogue(None, 1000, 0)
    shop = Shop(catalogue)
    latencies, errors, mixups = [], [], []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s

    with ShopServer(shop) as server:

        def shopper(number: int) -> None:
            client = Client(server.host, server.port)

            def call(method, path, form):
                status, body, seconds = client.request(method, path, form)
                with lock:
                    latencies.append(seconds)
                    if status not in (200, 302):
                        errors.append((status, path))
                return status, body

            for round_ in range(visits):
                if time.monotonic() > stop_at:
                    break
                goal_index = (number * visits + round_) % len(catalogue.goals)
                goal = catalogue.goals[goal_index]
                try:
                    answers = visit(call, f"fixed_{goal_index}_load{number}x{round_}", goal)
                    if not check_visit(answers, goal, catalogue):
                        with lock:
                            mixups.append(goal_index)
                except Exception as error:  # counted, not raised: the figure is the error count
                    with lock:
                        errors.append((type(error).__name__, str(error)[:80]))

        began = time.perf_counter()
        threads = [threading.Thread(target=shopper, args=(n,)) for n in range(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began

    reference = []
    for round_ in range(min(visits * sessions, 200)):
        goal = catalogue.goals[round_]

        def call(method, path, form):
            began = time.perf_counter()
            parts = urlsplit(path)
            from urllib.parse import parse_qsl

            answer = shop.handle(method, parts.path, dict(parse_qsl(parts.query)), form)
            reference.append(time.perf_counter() - began)
            return answer.status, answer.location or answer.html

        visit(call, f"fixed_{round_}_ref", goal)
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    ref50 = np.percentile(np.array(reference) * 1000, 50)
    print(f"\n== site under load: {sessions} concurrent sessions x {visits} visits "
          f"(deadline {deadline_s:.0f} s)")  # fmt: skip
    print(
        f"{len(latencies)} requests in {elapsed:.1f} s ({len(latencies) / elapsed:.0f}/s), "
        f"{len(errors)} errors, {len(mixups)} sessions that saw another's goal or score"
    )
    print(f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms; in-process Shop.handle p50 "
          f"{ref50:.3f} ms (ratio p50 {p50 / ref50:.1f})")  # fmt: skip
    if errors:
        print("errors:", errors[:5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["text", "browser", "site", "all"], default="all")
    parser.add_argument("--sizes", default="1000,100000", help="catalogue sizes (text part)")
    parser.add_argument("--episodes", type=int, default=100, help="expert episodes (text)")
    parser.add_argument("--browser-episodes", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--visits", type=int, default=10, help="visits per session (site)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds (site)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    if args.part in ("text", "all"):
        for size in (int(s) for s in args.sizes.split(",")):
            bench_text(size, args.episodes)
    if args.part in ("browser", "all"):
        bench_browser(args.browser_episodes)
    if args.part in ("site", "all"):
        bench_site(args.sessions, args.visits, args.deadline)


if __name__ == "__main__":
    main()
