"""A real SMTP server for tests (aiosmtpd on a free loopback port) that keeps what it got."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool = False  # the session had done STARTTLS
    login: str | None = None  # the user the session authenticated as


@dataclass
class RecordingHandler:
    """Keeps each completed message. With `stall`, the next DATA is read but never answered."""

    messages: list[Received] = field(default_factory=list)
    stall: bool = False
    stalled: list[Received] = field(default_factory=list)
    data_seen: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        auth = session.auth_data if session.authenticated else None  # from PasswordCheck
        login = auth.login.decode() if auth is not None else None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed,
                            tls=session.ssl is not None, login=login)
        if self.stall:
            self.stalled.append(received)
            self.data_seen.set()
            await asyncio.sleep(3600)  # the client is killed meanwhile; stop() cancels this
            return "451 never reached"
        self.messages.append(received)
        self.data_seen.set()
        return "250 OK"


class PasswordCheck:
    """An aiosmtpd authenticator that accepts one user and records every attempt."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.attempts: list[tuple[str, str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((mechanism, login, password))
        ok = (login, password) == (self.user, self.password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class SmtpServer:
    """`smtp_options` go to aiosmtpd's SMTP: authenticator, auth_required, tls_context,
    require_starttls, auth_require_tls..."""

    def __init__(self, port: int | None = None, **smtp_options) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self.smtp_options = smtp_options
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                      **self.smtp_options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages
