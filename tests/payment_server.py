"""A fake payment service on 127.0.0.1 speaking the SPEC §6 contract, for tests.

    with PaymentServer() as server:
        server.subscriptions[7] = subscription_json(7)
        provider = HttpProvider(server.url, timeout=0.3)
        ...
        assert server.requests[0][0] == "GET"

It is a real HTTP server (ThreadingHTTPServer in a background thread), so tests go
through httpx, sockets and timeouts exactly as in production. Knobs, readable and
writable while it runs:

- `subscriptions`: user_id → the JSON dict to answer (missing: 404); a `bytes` value is
  sent as the body verbatim (malformed JSON);
- `delay`: seconds to wait before answering (a slow service);
- `trickle`: seconds to wait between the bytes of the body (a service that dribbles);
- `fail_next`: answer 503 to that many requests first;
- `status_override`: answer every request with this status (and an error body);
- `members_calls`: the JSON bodies received by the member-sync endpoint;
- `requests`: (method, path with query, headers with lower-case names) of every request.

`down_url()` gives the URL of a port where nothing listens (the service is down).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MEMBERS_PATH = re.compile(r"^/v1/subscriptions/(\d+)/members$")


def subscription_json(user_id: int, subscription_id: int | None = None, *, plan: str = "family",
                      patient: int = 2, caregiver: int = 4, status: str = "active",
                      expires_in_days: float = 30) -> dict[str, Any]:
    """A subscription as the service answers it (subscription_id defaults to 1000 + user)."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    return {
        "subscription_id": 1000 + user_id if subscription_id is None else subscription_id,
        "owner_user_id": user_id,
        "status": status,
        "plan": plan,
        "slots": {"patient": patient, "caregiver": caregiver},
        "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
    }


def down_url() -> str:
    """The URL of a local port nothing listens on: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so no answer is still being written (and no
    # socket open) once the test moves on; their waits are cut short by `closing`.
    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: PaymentServer):
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:
        pass  # the client gave up (a timeout test): nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers on close

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        with fake.lock:
            fake.requests.append((method, self.path, headers))
            failing = fake.fail_next > 0
            if failing:
                fake.fail_next -= 1
        if fake.delay and fake.closing.wait(fake.delay):
            return  # shutting down
        if failing:
            self._send(503, {"error": "unavailable"})
        elif fake.status_override is not None:
            self._send(fake.status_override, {"error": "status_override"})
        else:
            self._route(method, raw)

    def _route(self, method: str, raw: bytes) -> None:
        fake = self.server.owner
        url = urlsplit(self.path)
        members = MEMBERS_PATH.match(url.path)
        if method == "GET" and url.path == "/v1/subscriptions":
            try:
                user_id = int(parse_qs(url.query)["user_id"][0])
            except (KeyError, ValueError):
                self._send(400, {"error": "user_id"})
                return
            answer = fake.subscriptions.get(user_id)
            if answer is None:
                self._send(404, {"error": "not_found"})
            else:
                self._send(200, answer)
        elif method == "POST" and members:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"error": "json"})
                return
            with fake.lock:
                fake.members_calls.append(body)
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": "no_route"})

    def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        fake = self.server.owner
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not fake.trickle:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()
            if fake.closing.wait(fake.trickle):
                return


class PaymentServer:
    """The fake service; a context manager that starts and stops it (see the module doc)."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, dict[str, Any] | bytes] = {}
        self.members_calls: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.delay = 0.0
        self.trickle = 0.0
        self.fail_next = 0
        self.status_override: int | None = None
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> PaymentServer:
        self._httpd = _Server(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-payment-service", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.closing.set()  # wake handlers waiting out a delay
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the handler threads, closes the socket
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> PaymentServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
