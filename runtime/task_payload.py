"""The message of the `hash_and_match` task: one definition for the producer (runtime.sink)
and the consumer (worker.tasks).

It is a wire contract between processes that may run different versions during a rolling
upgrade, so reading is tolerant: keys it does not know are ignored (a newer producer), a
message without `v` is version 1 (the format before the field existed), and `via`/`sha256`
may be missing. Writing always stamps the current version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAYLOAD_VERSION = 1


class InvalidPayload(ValueError):
    """A task message that cannot be read as an image task (a required key missing or of the
    wrong type); the task is dropped, not retried."""


@dataclass(frozen=True)
class ImageTaskPayload:
    crawl_id: int
    site_id: int
    page_url: str
    image_url: str
    via: str = ""
    sha256: str = ""
    data: bytes | None = None  # the image bytes inline (small images) ...
    data_key: str | None = None  # ... or a short-lived Redis key holding them
    version: int = PAYLOAD_VERSION

    def to_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "v": PAYLOAD_VERSION,
            "crawl_id": self.crawl_id,
            "site_id": self.site_id,
            "page_url": self.page_url,
            "image_url": self.image_url,
            "via": self.via,
            "sha256": self.sha256,
        }
        # Exactly one of the two goes on the wire, as before the type existed.
        if self.data_key:
            message["data_key"] = self.data_key
        else:
            message["data"] = self.data
        return message

    @classmethod
    def from_message(cls, message: Any) -> ImageTaskPayload:
        if not isinstance(message, dict):
            raise InvalidPayload(f"an image task message is a mapping, not {type(message).__name__}")
        try:
            payload = cls(
                crawl_id=int(message["crawl_id"]),
                site_id=int(message["site_id"]),
                page_url=_text(message, "page_url"),
                image_url=_text(message, "image_url"),
                via=_text(message, "via", ""),
                sha256=_text(message, "sha256", ""),
                data=_data(message.get("data")),
                data_key=message.get("data_key") or None,
                version=int(message.get("v", 1)),
            )
        except KeyError as exc:
            raise InvalidPayload(f"image task message lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidPayload):
                raise
            raise InvalidPayload(f"image task message is malformed: {exc}") from None
        if payload.data_key is not None and not isinstance(payload.data_key, str):
            raise InvalidPayload("image task message: data_key is not a string")
        return payload


def _text(message: dict, key: str, default: str | None = None) -> str:
    value = message[key] if default is None else message.get(key, default)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise InvalidPayload(f"image task message: {key} is not a string")
    return value


def _data(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):  # what some serializers hand back
        return bytes(value)
    raise InvalidPayload(f"image task message: data is {type(value).__name__}, not bytes")
