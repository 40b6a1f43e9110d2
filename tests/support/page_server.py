"""A real HTTP server on 127.0.0.1 whose paths behave as a test sets: brand pages that redirect,
drip bytes or never end, for the fetch's address, deadline and size rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

__all__ = ["PAGE", "PageHandler", "PageServer", "page_server", "redirect_to"]

PAGE = b"<!DOCTYPE html><title>Local Candles</title><p>Hand-poured.</p>"


class PageHandler(BaseHTTPRequestHandler):
    """Answers GET with the route its path is given, else with `PAGE`."""

    routes: ClassVar[dict[str, Callable[[PageHandler], None]]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        route = self.routes.get(self.path.split("?")[0])
        try:
            if route is None:
                self.send_page()
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the fetch gave up, as it should

    def send_page(self) -> None:
        """Answer with `PAGE`."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        return None


class PageServer:
    """A threaded http.server on 127.0.0.1 whose paths behave as each test sets."""

    def __init__(self) -> None:
        handler = type("Handler", (PageHandler,), {"routes": {}, "seen": []})
        self.handler: type[PageHandler] = handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def seen(self) -> list[str]:
        """The paths requested so far, in order."""
        return self.handler.seen

    def route(self, path: str, respond: Callable[[PageHandler], None]) -> None:
        """Answer GET `path` with `respond`."""
        self.handler.routes[path] = respond


@contextmanager
def page_server() -> Iterator[PageServer]:
    """A started PageServer, shut down afterwards."""
    live = PageServer()
    live.thread.start()
    try:
        yield live
    finally:
        live.httpd.shutdown()
        live.httpd.server_close()


def redirect_to(location: str) -> Callable[[PageHandler], None]:
    """A route that answers 302 to `location`."""

    def respond(handler: PageHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond
