"""Upload caps beyond tests/api/test_api_lists.py's declared-size case: a chunked body with no
Content-Length, a UI multipart form, an image to /match and an oversized form field are each
cut off with 413 while streaming, the list stays as it was and no temporary file is left."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiohttp import FormData

from spinneret.matcher.store import ListEntry
from tests.api.conftest import api, context, make_png, tokens  # noqa: F401 - fixtures

LIMIT = 4096
OLD = [ListEntry("md5", "a" * 32, "old")]


def _leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("spinneret-upload-*"))


async def _chunks(total: int, line: bytes = b"md5," + b"b" * 32 + b"\n"):
    yield b"algorithm,hash\n"
    sent = 0
    while sent < total:
        yield line * 64
        sent += len(line) * 64


def _prepare(api) -> set[Path]:  # noqa: F811
    api.svc.settings.max_upload_bytes = LIMIT
    api.store.replace_list("capped", OLD)
    return _leftovers()


async def test_chunked_body_without_length_is_cut_off_at_the_cap(api):  # noqa: F811
    before = _prepare(api)
    response = await api.client.post("/api/v1/lists/capped/import", data=_chunks(1 << 20),
                                     params={"format": "csv"}, headers=api.bearer("analyst"))
    assert response.status == 413
    assert f"limit of {LIMIT} bytes" in (await response.json())["error"]
    assert list(api.store.entries("capped")) == OLD and api.store.get_list("capped").version == 1
    assert _leftovers() <= before, "no temporary upload file left behind"


async def test_ui_multipart_upload_over_the_cap_is_refused(api):  # noqa: F811
    before = _prepare(api)
    headers, csrf = api.session("analyst")
    form = FormData()
    form.add_field("list", "capped")
    form.add_field("file", b"algorithm,hash\n" + (b"md5," + b"c" * 32 + b"\n") * 500,
                   filename="big.csv", content_type="text/csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    assert response.status == 413, response.status
    assert list(api.store.entries("capped")) == OLD and api.store.get_list("capped").version == 1
    assert _leftovers() <= before


async def test_image_over_the_cap_to_match_is_refused(api, make_png):  # noqa: F811
    before = _prepare(api)
    api.svc.settings.max_image_bytes = 300
    image = make_png(1, size=96)
    assert len(image) > 300
    response = await api.client.post("/api/v1/match", data=image, headers=api.bearer("viewer"))
    assert response.status == 413
    assert "limit of 300 bytes" in (await response.json())["error"]
    assert _leftovers() <= before


async def test_oversized_form_field_in_an_upload_is_refused(api):  # noqa: F811
    before = _prepare(api)
    api.svc.settings.max_upload_bytes = 1 << 20
    headers, csrf = api.session("analyst")
    form = FormData()
    form.add_field("list", "capped")
    form.add_field("description", "d" * (200 * 1024))
    form.add_field("file", b"algorithm,hash\nmd5," + b"e" * 32 + b"\n", filename="x.csv")
    response = await api.client.post(f"/lists/import?csrf={csrf}", data=form, headers=headers)
    assert response.status in (400, 413), response.status
    assert list(api.store.entries("capped")) == OLD
    assert _leftovers() <= before
