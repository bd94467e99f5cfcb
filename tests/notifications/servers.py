"""Real servers on 127.0.0.1 for the channels' tests: SMTP (aiosmtpd) and an SMS gateway.

Both record what they receive and can be told to fail. stop() closes every socket and
joins every thread: the suite turns unclosed-resource warnings into errors.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.ports import free_port


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SmtpServer:
    """An SMTP server that keeps every message; `refuse` = a reply such as
    "451 4.3.0 Try again later" makes it refuse messages until set back to None."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.refuse: str | None = None
        self.refused = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # aiosmtpd handler hook
    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        with self._lock:
            if self.refuse:
                self.refused += 1
                return self.refuse
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos),
                                              message))
        return "250 2.0.0 OK"

    def start(self) -> SmtpServer:
        # aiosmtpd checks that its server answers on the given port, so port 0 will not do.
        for _attempt in range(5):
            self.port = free_port()
            self._controller = Controller(self, hostname=self.host, port=self.port,
                                          server_hostname="smtp.test", ready_timeout=10)
            try:
                self._controller.start()
                return self
            except OSError:
                self._controller = None
        raise RuntimeError("no free port for the test SMTP server")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class GatewayRequest:
    path: str
    headers: dict[str, str]
    body: dict


class SmsGateway:
    """An HTTP SMS gateway: answers {"id": "sms-N"}; fail_next = n answers 500 n times,
    fail_always answers 500 until cleared; delay (seconds) slows every answer down."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.requests: list[GatewayRequest] = []
        self.arrivals = 0  # requests received, counted before the delay and the answer
        self.fail_next = 0
        self.fail_always = False
        self.delay = delay
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1/sms"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        with self._lock:
            self.arrivals += 1
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            failing = self.fail_always or self.fail_next > 0
            if self.fail_next > 0:
                self.fail_next -= 1
            if failing:
                status, body = 500, {"error": "gateway down"}
            else:
                self.requests.append(GatewayRequest(handler.path, dict(handler.headers),
                                                    json.loads(raw or b"{}")))
                status, body = 200, {"id": f"sms-{len(self.requests)}"}
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def start(self) -> SmsGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                gateway._answer(self)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - base signature
                pass  # keep the test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def recipients(self) -> list[str]:
        with self._lock:
            return [r.body.get("to") for r in self.requests]
