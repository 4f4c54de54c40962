"""A tiny web site on a loopback port of its own: another origin for the browser.

The CSRF test serves an attacker's page from it (a form that posts itself to the
daemon), and the harness test serves a page under a strict Content-Security-Policy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: path -> (body, extra headers)
Pages = Mapping[str, tuple[str, Mapping[str, str]]]


@contextmanager
def static_site(pages: Pages) -> Iterator[str]:
    """Serve ``pages`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in pages:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, headers = pages[path]
            data = body.encode()
            self.send_response(200)
            content_type = "text/javascript" if path.endswith(".js") else "text/html"
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
