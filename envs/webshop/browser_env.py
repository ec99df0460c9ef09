"""``turngym/WebShop-Browser-v0``: WebShop played in a real headless Chromium through Selenium.

The environment starts the shop's site on 127.0.0.1 (or uses the ``url`` of one already
running with the same catalogue settings) and a headless Chromium, and acts in the page: a
search types the query into the search box and presses Search; a click clicks the button, the
product link or the option on the page. Observations are read from the browser's
``page_source`` by the same rules as the text env (:mod:`.pages`), so for the same goal and
actions both environments give the same observations (``text``, ``text_rich``; in ``html``
mode this one returns the browser's serialization of the page), rewards and ``info``. Actions,
admissible actions, the expert and the split are those of ``turngym/WebShop-v0``
(:class:`~.text_env.WebShopEnv`).

Chromium is Debian's ``chromium`` with ``chromium-driver`` (the driver path is given to Selenium
explicitly, so Selenium never downloads one). ``close()`` quits the browser and stops the site
(shared by the environments of one process, stopped with the last), also after an error;
a garbage-collected environment is closed the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit

import lxml.html

from .pages import parse_page
from .shop import Shop, load_catalogue
from .text_env import WebShopEnv

DRIVER_PATH = "/usr/bin/chromedriver"
BROWSER_PATH = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--window-size=1280,1024",
)  # fmt: skip
SELECTORS = {"button": ".btn", "link": ".product-link", "radio": 'input[type="radio"]'}

_servers: dict[tuple, list] = {}  # (catalogue args, shop args) -> [ShopServer, users]
_servers_lock = threading.Lock()


def acquire_server(catalogue_args: tuple, shop_args: dict[str, Any]):
    """A running site for these settings, shared within the process (reference-counted)."""
    from .app import ShopServer

    key = (catalogue_args, tuple(sorted(shop_args.items())))
    with _servers_lock:
        if key not in _servers:
            shop = Shop(load_catalogue(*catalogue_args), **shop_args)
            _servers[key] = [ShopServer(shop).start(), 0]
        _servers[key][1] += 1
        return key, _servers[key][0]


def release_server(key: tuple) -> None:
    with _servers_lock:
        entry = _servers.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _servers[key]
            entry[0].stop()


def start_chromium(driver_path: str, browser_path: str | None, profile_dir: str):
    """A headless Chromium driven by ``driver_path`` (no download), with a fresh profile."""
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not os.path.exists(driver_path):
        raise FileNotFoundError(
            f"chromedriver not found at {driver_path}; on Debian/Ubuntu: apt-get install "
            "chromium chromium-driver (make system-deps), or pass driver_path="
        )
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    if browser_path:
        options.binary_location = browser_path
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    return driver


def _close(state: dict[str, Any]) -> None:
    """Quit the browser, release the site and remove the profile (safe to call twice)."""
    driver, state["driver"] = state.get("driver"), None
    if driver is not None:
        try:
            driver.quit()
        except Exception:  # a browser that already died has nothing left to quit
            pass
    key, state["server_key"] = state.get("server_key"), None
    if key is not None:
        release_server(key)
    profile, state["profile"] = state.get("profile"), None
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


class WebShopBrowserEnv(WebShopEnv):
    """WebShop in headless Chromium (see the module docstring).

    Args:
        url: a running WebShop site (``turngym webshop serve``) with the same catalogue
            settings; ``None``: start one on 127.0.0.1.
        driver_path: chromedriver (Debian: ``/usr/bin/chromedriver``).
        browser_path: the Chromium binary (Debian: ``/usr/bin/chromium``; ``None``: the
            driver's default).
        **kwargs: as :class:`~.text_env.WebShopEnv` (``data_dir``, ``num_products``, ``seed``,
            ``goals``, ``observation_mode``, ...).
    """

    def __init__(
        self,
        url: str | None = None,
        driver_path: str = DRIVER_PATH,
        browser_path: str | None = BROWSER_PATH if os.path.exists(BROWSER_PATH) else None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.site_url = url.rstrip("/") if url else None
        self.driver_path, self.browser_path = driver_path, browser_path
        self._state: dict[str, Any] = {"driver": None, "server_key": None, "profile": None}
        self._finalizer = weakref.finalize(self, _close, self._state)

    # -- the site and the browser, started on first reset ----------------------------------------
    def _base_url(self) -> str:
        if self.site_url:
            return self.site_url
        if self._state["server_key"] is None:
            key, server = acquire_server(self.catalogue_args, self.shop_args)
            self._state["server_key"], self._server_url = key, server.url
        return self._server_url

    @property
    def driver(self):
        if self._state["driver"] is None:
            self._base_url()  # the site first, so that a browser failure still frees it
            profile = tempfile.mkdtemp(prefix="turngym-chromium-")
            self._state["profile"] = profile
            try:
                self._state["driver"] = start_chromium(self.driver_path, self.browser_path, profile)
            except BaseException:
                self.close()
                raise
        return self._state["driver"]

    def close(self) -> None:
        _close(self._state)
        super().close()

    # -- acting in the page ------------------------------------------------------------------
    def _mark_page(self) -> None:
        """Mark the current page, so that :meth:`_wait_for_new_page` can tell it has gone."""
        self.driver.execute_script("window.__turngymOldPage = true;")

    def _wait_for_new_page(self) -> None:
        """Wait until the marked page is replaced by a fully loaded new one (a new document
        has a new ``window``, without the mark)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.wait import WebDriverWait

        script = "return !window.__turngymOldPage && document.readyState === 'complete';"
        wait = WebDriverWait(
            self.driver, 30, poll_frequency=0.005, ignored_exceptions=(WebDriverException,)
        )
        wait.until(lambda driver: driver.execute_script(script))

    def _read_page(self) -> None:
        parts = urlsplit(self.driver.current_url)
        self.url = parts.path + (f"?{parts.query}" if parts.query else "")
        self.html = self.driver.page_source
        self.page = parse_page(self.html)

    def _open_session(self, session_id: str) -> None:
        driver = self.driver
        driver.get(f"{self._base_url()}/{session_id}")
        self._read_page()

    def _search(self, query: str) -> None:
        from selenium.webdriver.common.by import By

        driver = self.driver
        self._mark_page()
        box = driver.find_element(By.ID, "search_input")
        box.clear()
        if all(ord(c) <= 0xFFFF for c in query):  # chromedriver types the Basic Plane only
            box.send_keys(query)
        else:
            driver.execute_script("arguments[0].value = arguments[1];", box, query)
        box.find_element(By.XPATH, "ancestor::form//*[contains(@class, 'btn')]").click()
        self._wait_for_new_page()
        self._read_page()

    def _click(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        clickable = self.page.clickables[name]
        driver = self.driver
        self._mark_page()
        elements = driver.find_elements(By.CSS_SELECTOR, SELECTORS[clickable.kind])
        if clickable.ordinal >= len(elements):
            raise RuntimeError(
                f"the browser's page has no {clickable.kind} number {clickable.ordinal} "
                f"({name!r}): the page changed under the environment"
            )
        element = elements[clickable.ordinal]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        self._wait_for_new_page()
        self._read_page()

    def _purchase_score(self) -> float | None:
        """The score the done page shows (``#reward pre``)."""
        found = lxml.html.document_fromstring(self.html).xpath('//*[@id="reward"]//pre')
        return float(found[0].text_content()) if found else None
