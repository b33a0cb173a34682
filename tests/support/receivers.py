"""Local receivers for notifications: an HTTP server that records webhook POSTs and a real
SMTP server (aiosmtpd), both on 127.0.0.1 with a port the system picks.

What they received is recorded before they answer, so once the sender has its answer (the
sync has returned) the record is complete: nothing to wait for."""

from __future__ import annotations

import contextlib
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Answers every POST with ``status``; ``posts`` in the order received."""

    status: int = 200
    posts: list[Post] = field(default_factory=list)
    url: str = ""


@contextlib.contextmanager
def http_receiver(status: int = 200, path: str = "/services/T000/B000/s3cr3t-t0ken") -> Iterator[HttpReceiver]:
    """A webhook receiver; its ``url`` has a token-like path (as Slack's do) that must never
    be shown."""
    receiver = HttpReceiver(status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            receiver.posts.append(Post(self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller on a port the system picks (it knocks on ``self.port`` to check
    the server is up, so it learns the real one first)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextlib.contextmanager
def smtp_server(users: dict[str, str] | None = None) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1: (mailbox, port). With ``users`` it offers AUTH (over
    plain text: it is on this machine) and accepts those logins only."""
    mailbox = Mailbox()
    kwargs: dict[str, object] = {}
    if users is not None:
        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            if isinstance(auth_data, LoginPassword):
                login, password = auth_data.login.decode(), auth_data.password.decode()
                if users.get(login) == password:
                    mailbox.logins.append(login)
                    return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        kwargs = {"authenticator": authenticate, "auth_require_tls": False}
    controller = _Controller(mailbox, hostname="127.0.0.1", port=0, ready_timeout=60, **kwargs)
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@dataclass
class HeldServer:
    """A TCP server on 127.0.0.1 that answers each connection with ``prefix`` (part of a
    status line, a greeting, headers promising 2 GB) and then holds it, sending nothing more,
    until ``release`` (the context's exit releases it too). Nothing about it depends on time:
    the sender's own deadline is what ends the conversation."""

    port: int = 0
    connections: int = 0
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/s3cr3t-t0ken"

    def release(self) -> None:
        self.released.set()


@contextlib.contextmanager
def held_server(prefix: bytes, *, read_request: bool) -> Iterator[HeldServer]:
    """``read_request``: read the request's head first (HTTP), else speak first (SMTP)."""
    import socket

    held = HeldServer()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held.port = listener.getsockname()[1]
    threads: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            if read_request:
                conn.settimeout(0.1)
                data = b""
                while b"\r\n\r\n" not in data and not held.released.is_set():
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        return
                    data += chunk
            try:
                conn.sendall(prefix)
            except OSError:
                return
            held.released.wait()

    def accept() -> None:
        while not held.released.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.connections += 1
            thread = threading.Thread(target=serve, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield held
    finally:
        held.release()
        acceptor.join()
        for thread in threads:
            thread.join()
        listener.close()
