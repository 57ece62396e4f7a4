"""Render notices from Jinja2 templates: subject, plain text, HTML, and the webhook JSON.

Templates live in notices/templates/; a file of the same name in `settings.templates_dir`
overrides the packaged one. Nothing rendered ever contains or links to image bytes: only
the URLs where the site serves them.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from notices.errors import TemplateError
from notices.smtp import MailContent
from notices.types import NoticeItemView, NoticeView

PURPOSES = ("initial", "reminder", "escalation")

CATEGORY_TEXT = {
    "illegal": "content that is illegal to host",
    "policy": "content that violates the list owner's policy",
    "policy-violating": "content that violates the list owner's policy",
}


def category_text(category: str) -> str:
    return CATEGORY_TEXT.get(category.lower(), category or "uncategorised")


def match_text(item: NoticeItemView) -> str:
    algorithm = item.algorithm.upper() if item.algorithm in ("md5", "pdq") else item.algorithm
    if item.match_kind == "exact":
        return f"exact match ({algorithm}: identical file)"
    return f"perceptual match ({algorithm}, Hamming distance {item.distance})"


class Renderer:
    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.PackageLoader("notices", "templates"))
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
        return cls(settings.templates_dir)

    def context(self, notice: NoticeView, purpose: str, owner_url: str, *,
                reminder_number: int | None = None, **extra: Any) -> dict:
        """`reminder_number`: which reminder this is (1 = the first); by default the number
        of reminders queued so far, which counts the one being rendered."""
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


def webhook_payload(notice: NoticeView, purpose: str, owner_url: str) -> dict[str, Any]:
    """The JSON body of a webhook delivery (URLs, hashes' algorithms and distances; no bytes)."""
    return {
        "type": f"spinneret.notice.{purpose}",
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
