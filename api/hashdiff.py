"""Side by side hashes for the review and match pages: the image's hash with the hex digits
that differ from the listed hash marked, so an analyst sees where two hashes disagree."""

from __future__ import annotations

from markupsafe import Markup, escape


def hash_diff(image_hash: str, listed_hash: str) -> Markup:
    """`image_hash` as HTML, each digit that differs from `listed_hash` in a <mark>."""
    if len(image_hash) != len(listed_hash):
        return Markup(escape(image_hash))
    parts = []
    for mine, theirs in zip(image_hash, listed_hash, strict=True):
        digit = escape(mine)
        parts.append(Markup(f"<mark>{digit}</mark>") if mine.lower() != theirs.lower()
                     else digit)
    return Markup("").join(parts)
