"""Render notices from Jinja2 templates: subject, plain text, HTML, and the webhook JSON.

Templates live in notices/templates/; a file of the same name in `settings.templates_dir`
overrides the packaged one. Nothing rendered ever contains or links to image bytes: only
the URLs where the site serves them.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from spinneret.notices.errors import TemplateError
from spinneret.notices.smtp import MailContent
from spinneret.notices.types import NoticeItemView, NoticeView, Sender

PURPOSES = ("initial", "reminder", "escalation")

CATEGORY_TEXT = {
    "illegal": "content that is illegal to host",
    "policy": "content that violates the list owner's policy",
    "policy-violating": "content that violates the list owner's policy",
}


def category_text(category: str) -> str:
    return CATEGORY_TEXT.get(category.lower(), category or "uncategorised")


def duration_words(seconds: float) -> str:
    """`90 minutes`, `24 hours`, `3 days`: how a notice states a delay to a person."""
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(seconds / 3600)
    if hours < 72 or hours % 24:
        return f"{hours} hours"
    return f"{hours // 24} days"


def match_text(item: NoticeItemView) -> str:
    algorithm = item.algorithm.upper() if item.algorithm in ("md5", "pdq") else item.algorithm
    if item.match_kind == "exact":
        return f"exact match ({algorithm}: identical file)"
    return f"perceptual match ({algorithm}, Hamming distance {item.distance})"


NO_SENDER = Sender(organisation="", contact_email="", legal_basis="", removal_deadline_s=86400)


class Renderer:
    def __init__(self, templates_dir: Path | None = None, sender: Sender = NO_SENDER) -> None:
        self.sender = sender
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.PackageLoader(__package__, "templates"))
        # Sandboxed: an operator's template (templates_dir) cannot reach Python internals.
        self.env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["category_text"] = category_text
        self.env.filters["match_text"] = match_text
        self.env.filters["isotime"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""

    @classmethod
    def from_settings(cls, settings) -> Renderer:
        return cls(settings.templates_dir, Sender.from_settings(settings))

    def deadline(self, notice: NoticeView, issued_at: datetime) -> datetime:
        """Removal is asked for within the deadline of the first notice message that was not
        lost (a failed one never reached the owner); retries, resends and reminders repeat
        that date rather than moving it."""
        queued = [d.created_at for d in notice.deliveries
                  if d.purpose == "initial" and d.status != "failed"]
        start = min(queued, default=issued_at)
        return start + timedelta(seconds=self.sender.removal_deadline_s)

    def removal_request(self, notice: NoticeView, issued_at: datetime) -> dict[str, Any]:
        """Who asks, on what basis and by when, for the webhook payload."""
        return {
            "organisation": self.sender.organisation,
            "contact_email": self.sender.contact_email,
            "legal_basis": self.sender.legal_basis,
            "policy_url": self.sender.policy_url,
            "remove_by": self.deadline(notice, issued_at).isoformat(),
            "demo": self.sender.demo,
        }

    def context(self, notice: NoticeView, purpose: str, owner_url: str, *,
                reminder_number: int | None = None, issued_at: datetime | None = None,
                **extra: Any) -> dict:
        """`reminder_number`: which reminder this is (1 = the first); by default the number
        of reminders queued so far, which counts the one being rendered. `issued_at`: when
        the message was queued (the deadline counts from the first one); default: the
        notice's creation."""
        if purpose not in PURPOSES:
            raise TemplateError(f"unknown notice purpose {purpose!r}")
        items = notice.items if purpose == "initial" else [
            item for item in notice.items if item.status in ("open", "reappeared")
        ]
        by_category: OrderedDict[str, list[NoticeItemView]] = OrderedDict()
        for item in items:
            by_category.setdefault(item.category or "uncategorised", []).append(item)
        return {
            "notice": notice,
            "purpose": purpose,
            "owner_url": owner_url,
            "items": items,
            "by_category": by_category,
            "removed_count": sum(1 for i in notice.items if i.status == "removed"),
            "reminder_number": reminder_number or notice.reminders_sent,
            "sender": self.sender,
            "deadline": self.deadline(notice, issued_at or notice.created_at),
            "deadline_text": duration_words(self.sender.removal_deadline_s),
            **extra,
        }

    def render(self, name: str, context: dict) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from None

    def mail(self, notice: NoticeView, purpose: str, owner_url: str, **extra: Any) -> MailContent:
        ctx = self.context(notice, purpose, owner_url, **extra)
        subject = " ".join(self.render("subject.txt.j2", ctx).split())
        return MailContent(
            subject=subject,
            text=self.render("notice.txt.j2", ctx),
            html=self.render("notice.html.j2", ctx),
        )


def webhook_payload(notice: NoticeView, purpose: str, owner_url: str,
                    request: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of a webhook delivery (URLs, hashes' algorithms and distances; no bytes).
    `request`: `Renderer.removal_request` (who asks, the legal basis, the deadline)."""
    return {
        "type": f"spinneret.notice.{purpose}",
        **({"request": request} if request is not None else {}),
        "notice": {
            "id": notice.id,
            "reference": notice.reference,
            "site": notice.site_name,
            "status": notice.status,
            "created_at": notice.created_at.isoformat(),
            "owner_url": owner_url,
            "reminders_sent": notice.reminders_sent,
        },
        "items": [
            {
                "reference": item.reference,
                "image_url": item.image_url,
                "page_url": item.page_url,
                "first_detected_at": item.first_detected_at.isoformat(),
                "list": item.list_name,
                "source": item.list_source,
                "category": item.category,
                "label": item.label,
                "algorithm": item.algorithm,
                "match_kind": item.match_kind,
                "distance": item.distance,
                "status": item.status,
            }
            for item in notice.items
        ],
    }
