"""Errors of the notices package. `NoticeError` is the base the CLI shows as one line."""

from __future__ import annotations


class NoticeError(Exception):
    """A notices failure to report to the user as one line."""


class NoticeNotFound(NoticeError):
    def __init__(self, notice_id: int) -> None:
        super().__init__(f"no notice with id {notice_id}")
        self.notice_id = notice_id


class ReviewNotFound(NoticeError):
    def __init__(self, review_id: int) -> None:
        super().__init__(f"no review with id {review_id}")
        self.review_id = review_id


class ReviewAlreadyDecided(NoticeError):
    def __init__(self, review_id: int, status: str) -> None:
        super().__init__(f"review {review_id} is already decided: {status}")
        self.review_id = review_id
        self.status = status


class ReviewNoteRequired(NoticeError):
    def __init__(self) -> None:
        super().__init__("a rejection needs a note saying why the image is rejected "
                         "(it is kept with the decision)")


class NoRecipient(NoticeError):
    """A site has neither a contact e-mail nor a webhook URL to notify."""


class TemplateError(NoticeError):
    """A notice template is missing or fails to render."""


class DeliveryError(NoticeError):
    """One delivery attempt failed. `permanent` failures are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class LinkError(NoticeError):
    """An owner link could not be used."""


class LinkTampered(LinkError):
    def __init__(self) -> None:
        super().__init__("this link is not valid (it was changed or is incomplete)")


class LinkExpired(LinkError):
    def __init__(self) -> None:
        super().__init__("this link has expired")


class CsrfError(LinkError):
    def __init__(self) -> None:
        super().__init__("the form token does not belong to this link")


class WebhookSignatureError(NoticeError):
    """A webhook request whose signature or timestamp does not verify."""


class ReviewDuplicateDecision(NoticeError):
    """An analyst decides a review item a second time (consensus needs distinct analysts)."""

    def __init__(self, review_id: int, by: str, earlier: str) -> None:
        super().__init__(f"review {review_id}: {by} has already decided it ({earlier}); "
                         "another analyst must decide next")
        self.review_id = review_id
        self.by = by

