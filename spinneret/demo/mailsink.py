"""A local SMTP server for the demo: every notice it receives lands in a Maildir in the
data dir, where the user can read it (`ls <data_dir>/demo-mail/new/`)."""

from __future__ import annotations

from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from spinneret.runtime.embedded_redis import free_loopback_port


class DemoMailSink:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        mail_dir.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_loopback_port()
        self._controller = Controller(Mailbox(str(mail_dir)), hostname="127.0.0.1", port=self.port)

    def start(self) -> DemoMailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        new = self.mail_dir / "new"
        return sorted(new.iterdir()) if new.is_dir() else []
