"""The HTTP server every emulator runs on: routing, rate limits, faults, the request log.

Built on the standard library's threading HTTP server rather than a web framework because
several faults (connection resets, hangs, truncated bodies) need the raw socket.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, FaultInjector, FaultKind
from .ratelimit import SlidingWindowLimiter
from .requestlog import LoggedRequest, RequestLog

ADMIN_PREFIX = "/_emulator"
ADMIN_FAMILY = "_admin"


class HttpError(Exception):
    """Raised by a handler to answer with an API error."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.response = Response(status, body, headers or {})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    query_lists: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, {"error": f"request body is not JSON: {exc}"}) from exc


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-encoded unless already bytes
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


Handler = Callable[[Request], "Response | Any"]


@dataclass
class Route:
    method: str
    pattern: str  # "/issues/{id}/messages"
    family: str  # the fault and request-log family; its rate limit is the emulator's bucket(family)
    handler: Handler
    admin: bool = False  # admin routes skip auth, limits and faults

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern.rstrip("/") or "/")
        self._regex = re.compile(f"^{regex}/?$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self._regex.match(path)
        return found.groupdict() if found else None


def route(method: str, pattern: str, family: str, admin: bool = False):
    """Marks an Emulator method as the handler of `method pattern`."""

    def mark(func):
        func._route = (method.upper(), pattern, family, admin)
        return func

    return mark


class Emulator:
    """Base of an API emulator: its routes (methods marked with @route), limits and auth.

    Subclasses generate their data in __init__ from `seed` and `size`, so the same
    arguments always give the same API.
    """

    name = "emulator"
    limits: dict[str, int] = {}  # bucket -> requests per minute (see bucket())

    def __init__(self, seed: int = 0, size: int = 10) -> None:
        self.seed = seed
        self.size = size
        self.lock = threading.RLock()  # handlers run on many threads; guard the data with it

    def routes(self) -> list[Route]:
        found = []
        for attr in dir(type(self)):
            spec = getattr(getattr(type(self), attr), "_route", None)
            if spec:
                method, pattern, family, admin = spec
                found.append(Route(method, pattern, family, getattr(self, attr), admin))
        return found

    def bucket(self, family: str) -> str:
        """The rate-limit bucket a family's calls count against.

        Most APIs limit each endpoint on its own (the default); some have one quota for many
        endpoints. Mapping those families to one bucket keeps families fine-grained for faults
        and the request log while the quota stays shared.
        """
        return family

    def quota_headers(self, limit: int | None, remaining: int | None) -> dict[str, str]:
        """Headers the API sends with each of its answers about the caller's quota (none by default).

        `limit` and `remaining` describe the call's bucket after the call, None when it is unlimited.
        Clients pace on these headers, so they come from the limiter that enforces the limit, never
        from a count of the emulator's own. Injected faults stand in front of the API and get none.
        """
        return {}

    def authorize(self, request: Request) -> Response | None:
        """None when the request may proceed; an error response otherwise."""
        return None

    def rate_limited(self, family: str, wait_seconds: float) -> Response:
        """The API's own 429 answer; `wait_seconds` is when the bucket's window frees a slot."""
        return Response(429, {"error": "rate limited"})

    def error_body(self, status: int, message: str) -> Any:
        """The API's error envelope, used for injected faults."""
        return {"error": message}


class EmulatorServer:
    """Serves one Emulator on 127.0.0.1 (an ephemeral port by default)."""

    def __init__(
        self,
        emulator: Emulator,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        fault_seed: int = 0,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.emulator = emulator
        self.limiter = SlidingWindowLimiter(emulator.limits if limits is None else limits, time_scale)
        self.log = RequestLog()
        self.routes = emulator.routes() + self._admin_routes()
        self.faults = FaultInjector(fault_seed, families={r.family for r in self.routes if not r.admin})
        self._stopping = threading.Event()
        self._httpd = _Server((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmulatorServer:
        # A short poll keeps stop() quick: tests start and stop an emulator each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.emulator.name}-emulator"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._stopping.set()  # releases hung requests
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- dispatch -------------------------------------------------------------------------

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            params = candidate.match(method, path)
            if params is not None:
                return candidate, params
        return None

    def dispatch(self, request: Request, matched: tuple[Route, dict[str, str]] | None) -> Response:
        if matched is None:
            return Response(404, self.emulator.error_body(404, f"no route for {request.method} {request.path}"))
        found, request.params = matched
        if found.admin:
            return self._call(found, request)
        bucket = self.emulator.bucket(found.family)
        response = self._call_api(found, request, bucket)
        quota = self.emulator.quota_headers(self.limiter.limits.get(bucket), self.limiter.remaining(bucket))
        response.headers = {**quota, **response.headers}
        return response

    def _call_api(self, found: Route, request: Request, bucket: str) -> Response:
        denied = self.emulator.authorize(request)
        if denied is not None:
            return denied
        wait = self.limiter.acquire(bucket)
        if wait is not None:
            return self.emulator.rate_limited(found.family, wait)
        return self._call(found, request)

    def _call(self, found: Route, request: Request) -> Response:
        try:
            result = found.handler(request)
        except HttpError as error:
            return error.response
        except Exception as exc:  # noqa: BLE001 -- an emulator bug: answer 500 and say so on stderr
            traceback.print_exc()
            return Response(500, self.emulator.error_body(500, f"emulator error: {exc!r}"))
        return result if isinstance(result, Response) else Response(200, result)

    def fault_response(self, fault: Fault) -> Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        message = "injected fault" if fault.status != 429 else "rate limited (injected)"
        return Response(fault.status, self.emulator.error_body(fault.status, message), headers)

    # -- the admin API, for the demo and for tests driving an emulator in another process --

    def _admin_routes(self) -> list[Route]:
        def health(_: Request) -> dict:
            return {"name": self.emulator.name, "ok": True}

        def requests_(req: Request) -> dict:
            family = req.query.get("family")
            return {
                "counts": dict(self.log.by_family()),
                "requests": [e.to_dict() for e in self.log.entries(family)],
            }

        def clear_requests(_: Request) -> dict:
            self.log.clear()
            return {"ok": True}

        def add_fault(req: Request) -> dict:
            spec = req.json()
            try:
                fault = self.faults.add(**spec)
            except (TypeError, ValueError) as exc:
                raise HttpError(400, {"error": f"bad fault spec: {exc}"}) from exc
            return {"ok": True, "fault": {"kind": fault.kind.value, "family": fault.family}}

        def clear_faults(_: Request) -> dict:
            self.faults.clear()
            return {"ok": True}

        def reset_limits(_: Request) -> dict:
            # For a client in another process to start with fresh windows, as if minutes later.
            self.limiter.reset()
            return {"ok": True}

        admin = [
            ("GET", "/health", health),
            ("GET", "/requests", requests_),
            ("DELETE", "/requests", clear_requests),
            ("POST", "/faults", add_fault),
            ("DELETE", "/faults", clear_faults),
            ("DELETE", "/limits", reset_limits),
        ]
        return [Route(m, ADMIN_PREFIX + p, ADMIN_FAMILY, h, admin=True) for m, p, h in admin]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
        # Headers and body go out in two writes; with Nagle and the client's delayed ACK every
        # keep-alive response would stall 40 ms, an artefact no real API has.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # the request log replaces stderr noise
            pass

        def _handle(self) -> None:
            arrived = time.monotonic()
            parts = urlsplit(self.path)
            query_lists = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[0] for k, v in query_lists.items()},
                query_lists=query_lists,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            matched = server.find_route(request.method, request.path)
            family = matched[0].family if matched else None
            is_admin = bool(matched and matched[0].admin)
            fault = None if is_admin or matched is None else server.faults.pick(family)

            def record(status: int | None) -> None:
                # Logged before the client can see the answer, so a test reading the log after its
                # call returned always finds that call.
                if is_admin:
                    return
                server.log.append(
                    LoggedRequest(
                        method=request.method,
                        path=request.path,
                        query=request.query,
                        family=family,
                        headers=request.headers,
                        body=request.body,
                        status=status,
                        fault=fault.kind.value if fault else None,
                        at=arrived,
                    )
                )

            self._respond(request, matched, fault, record)

        def _respond(self, request: Request, matched, fault: Fault | None, record) -> None:
            if fault and fault.kind is FaultKind.RESET:
                record(None)
                # SO_LINGER with a zero timeout turns close() into a TCP RST.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if fault and fault.kind is FaultKind.HANG:
                record(None)
                server._stopping.wait(fault.delay or 3600)
                self.close_connection = True
                return
            if fault and fault.kind is FaultKind.SLOW:
                server._stopping.wait(fault.delay)
            if fault and fault.kind is FaultKind.STATUS:
                response = server.fault_response(fault)
            elif fault and fault.kind is FaultKind.MALFORMED:
                response = Response(200, b'{"data": [ this is not json', {})
            else:
                response = server.dispatch(request, matched)

            body = response.encode()
            record(response.status)
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if fault and fault.kind is FaultKind.TRUNCATED:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self.end_headers()
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return _Handler
