"""The HTTP server: one page, two JSON routes, on the standard library's ThreadingHTTPServer.

    GET  /                 the page (offline HTML and JavaScript; ?autorun=1 runs every panel once)
    GET  /api/models       every served model: name, index, kind, modes and each field's bounds
    POST /api/generate     {"model": name or index, "mode": ..., fields...} -> images or text

Nothing from a request becomes a path: the routes are matched exactly and
the models are those named at start. Everything a client controls is
bounded before it is read or used: the request line and headers (414, 431),
the body (411 without a length, 413 over ``MAX_BODY``), its type (415
unless application/json, which also keeps other web sites' pages from
posting to this one without the browser asking first), its JSON (400) and
every field (400, ``fields.py``). A client that stalls is dropped after
``Handler.timeout`` seconds, and at most ``MAX_IN_FLIGHT`` generate requests
are held at once (503 beyond). An error inside generation is logged as one
line on the server's stderr and answered with 500 and a one-line JSON
error, never a traceback; the server goes on serving.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from .fields import RequestError, check_request
from .generate import run_request
from .models import find_model

__all__ = ["ModelServer", "make_server", "running", "MAX_BODY", "MAX_HEADER_BYTES", "MAX_IN_FLIGHT"]

MAX_BODY = 16 * 1024          # a request is a few fields: a 500-character prompt is under 2 KB of UTF-8
MAX_HEADER_BYTES = 16 * 1024  # browsers send about 1 KB
MAX_PATH = 2048
MAX_IN_FLIGHT = 64            # generate requests held at once (running or waiting for their model)
ROUTES = {"/": ("GET",), "/api/models": ("GET",), "/api/generate": ("POST",)}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class Handler(BaseHTTPRequestHandler):
    server_version = "aigc_np-serve"
    sys_version = ""
    timeout = 15              # seconds a client may take to send its request

    # ------------------------------------------------------------ responses
    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

    def send_error(self, code, message=None, explain=None):
        """Every error, http.server's own included (bad request line, headers too long), as JSON."""
        if code == 501:   # http.server's answer to a method it has no do_X for; to a client: not allowed here
            code, message = 405, f"method {self.command!r} not allowed: use GET or POST"
        self.close_connection = True
        if self.request_version == "HTTP/0.9":   # a request line too bad to read its version: answer in HTTP/1.0,
            self.request_version = "HTTP/1.0"     # as 0.9 has no status line or headers to say what went wrong
        self.log_message("%d %s", code, message)
        self._json(code, {"error": message or self.responses.get(code, ("error",))[0]}, {"Connection": "close"})

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {self.log_date_time_string()} {format % args}\n")

    # ------------------------------------------------------------ checks
    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.path) > MAX_PATH:
            self.send_error(414, f"the path is {len(self.path)} characters; at most {MAX_PATH}")
            return False
        size = sum(len(k) + len(v) for k, v in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self.send_error(431, f"the headers hold {size} bytes; at most {MAX_HEADER_BYTES}")
            return False
        return True

    def _route(self) -> str | None:
        """The route this request names, or None after answering 404 or 405."""
        path = urlsplit(self.path).path
        if path not in ROUTES:
            self._json(404, {"error": f"no such route: {path[:80]!r}; the routes are {', '.join(ROUTES)}"})
            return None
        if self.command not in ROUTES[path]:
            allowed = ", ".join(ROUTES[path])
            self._json(405, {"error": f"{path} takes {allowed}, not {self.command}"}, {"Allow": allowed})
            return None
        return path

    def _body(self) -> dict:
        """The request's JSON object, read only after its length and type are checked."""
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(None, "", status=411, message="a POST needs a Content-Length header")
        if not length.isdigit():
            raise RequestError(None, "", message=f"Content-Length: expected an integer, got {length[:20]!r}")
        if int(length) > MAX_BODY:
            raise RequestError(None, "", status=413, message=f"the body is {int(length)} bytes; at most {MAX_BODY}")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise RequestError(None, "", status=415,
                               message=f"Content-Type: expected application/json, got {content_type[:40]!r}")
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=self._no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise RequestError(None, "", message=f"the body is not valid JSON in UTF-8 ({_one_line(e)[:100]})") \
                from None
        if not isinstance(body, dict):
            raise RequestError(None, "", message=f"expected a JSON object, got {type(body).__name__}")
        return body

    @staticmethod
    def _no_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    # ------------------------------------------------------------ routes
    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self) -> None:
        path = self._route()
        if path == "/":
            self._send(200, self.server.page, "text/html; charset=utf-8",
                       {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                   "script-src 'unsafe-inline'; style-src 'unsafe-inline'"})
        elif path == "/api/models":
            self._json(200, {"models": [m.describe() for m in self.server.models]})
        elif path == "/api/generate":
            self._generate()

    def _generate(self) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._json(503, {"error": f"busy: {MAX_IN_FLIGHT} requests are being served; try again"})
            return
        served = None
        try:
            body = self._body()
            served = find_model(self.server.models, body.pop("model", None))
            request = check_request(body, served.fields(), served.modes())
            self._json(200, run_request(served, request))
        except RequestError as e:
            self._json(e.status, e.body())
        except Exception as e:   # the server's own failure: one line here and to the client, no traceback
            who = f"model {served.name!r}, " if served else ""
            sys.stderr.write(f"error: {_one_line(e)} ({who}{self.command} {self.path[:80]})\n")
            self._json(500, {"error": f"generation failed: {type(e).__name__}: {_one_line(e)[:300]}"})
        finally:
            self.server.slots.release()


class ModelServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that holds the served models and the page; one thread per connection."""
    daemon_threads = True
    request_queue_size = MAX_IN_FLIGHT   # connections the OS holds before accept(); socketserver's 5 resets a burst

    def __init__(self, address: tuple, models: list, quiet: bool = False):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.models, self.quiet = models, quiet
        self.slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self.page = resources.files(__package__).joinpath("page.html").read_bytes()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def make_server(models: list, host: str = "127.0.0.1", port: int = 0, quiet: bool = False) -> ModelServer:
    """A server for ``models`` (from ``load_served``) listening on host:port (0: any free port)."""
    return ModelServer((host, port), models, quiet=quiet)


@contextmanager
def running(models: list, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
    """A server running in a background thread for the ``with`` block (tests, the lesson, the bench)."""
    server = make_server(models, host, port, quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
