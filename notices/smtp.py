"""E-mail delivery over SMTP (aiosmtplib): plain text with an HTML alternative, no attachments.

The Message-ID comes from the delivery's idempotency key, so every retry of one delivery
carries the same Message-ID and receivers can recognise a resend.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from spinneret.notices.errors import DeliveryError


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def message_id(idempotency_key: str, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "spinneret.invalid"
    return f"<{idempotency_key}@{domain}>"


def build_message(
    content: MailContent, *, mail_from: str, to: list[str], idempotency_key: str,
    date_epoch: float, reply_to: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = ", ".join(to)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = content.subject
    message["Date"] = formatdate(date_epoch, usegmt=True)
    message["Message-ID"] = message_id(idempotency_key, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


class SmtpSender:
    def __init__(
        self, *, host: str, port: int, starttls: bool, username: str | None,
        password: str | None, timeout_s: float, mail_from: str,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.mail_from = mail_from

    @classmethod
    def from_settings(cls, settings) -> SmtpSender:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            host=settings.smtp_host, port=settings.smtp_port, starttls=settings.smtp_starttls,
            username=settings.smtp_username, password=password,
            timeout_s=settings.smtp_timeout_s, mail_from=settings.mail_from,
        )

    async def send(self, message: EmailMessage) -> None:
        """Send once; raise `DeliveryError` (permanent when every recipient is refused 5xx)."""
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.username,
                password=self.password,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(500 <= err.code < 600 for err in exc.recipients)
            raise DeliveryError(f"smtp: recipients refused: {exc}", permanent=permanent) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"smtp: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None
