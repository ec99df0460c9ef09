"""The WebShop web site: a Flask app over a :class:`~.shop.Shop`, and a server to run it.

Every page comes from ``Shop.handle`` (the same code the text environment calls); Flask adds
the static files (the app's own stylesheet, script and placeholder image: nothing is fetched
from elsewhere, so the site works in an offline browser) and turns unknown URLs and server
errors into plain error pages without tracebacks. :class:`ShopServer` runs the app in a
background thread on 127.0.0.1 (port 0: a free one) and stops it cleanly.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from .shop import STATIC_DIR, Shop

DEFAULT_HOST = "127.0.0.1"


def create_app(shop: Shop) -> Flask:
    """The Flask application serving ``shop`` (routes in :mod:`.shop`)."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # a search form is small; refuse floods

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def page(path: str) -> Any:
        answer = shop.handle(
            request.method, "/" + path, request.args.to_dict(), request.form.to_dict()
        )
        if answer.location is not None:
            return redirect(answer.location, 302)
        return Response(answer.html, answer.status, mimetype="text/html")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        answer = shop.error_page(error.description or "", error.name, error.code or 500)
        return Response(answer.html, answer.status, mimetype="text/html")

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> Any:
        app.logger.exception("error serving %s", request.path)
        answer = shop.error_page("the shop could not serve this page", "Server error", 500)
        return Response(answer.html, 500, mimetype="text/html")

    return app


class ShopServer:
    """``shop``'s site served from a background thread (``url`` once started).

    Example:
        >>> with ShopServer(shop) as server:
        ...     requests.get(server.url + "/fixed_0")
    """

    def __init__(self, shop: Shop, host: str = DEFAULT_HOST, port: int = 0, quiet: bool = True):
        self.shop = shop
        if quiet:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(host, port, create_app(shop), threaded=True)
        self.host, self.port = host, self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ShopServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``turngym webshop serve``)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
