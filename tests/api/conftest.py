"""Fixtures for the API tests: the real app on a loopback TestServer, against the test
Redis (own key prefix) and a SQLite database in the test's data dir; a token per role."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from spinneret.api.app import create_app
from spinneret.api.services import SERVICES
from spinneret.notices.links import OwnerLinks
from spinneret.notices.service import NoticeService
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.models import Notice
from spinneret.records.sites import SiteRepository
from spinneret.records.tokens import create_token
from spinneret.records.types import MatchRecordInput, NewSite
from spinneret.runtime.context import AppContext

ROLES = ("viewer", "analyst", "admin")
_counter = itertools.count(1)


@pytest.fixture
def context(settings):
    ctx = AppContext(settings)
    yield ctx
    ctx.close()


@pytest.fixture
def tokens(context) -> dict[str, str]:
    return {role: create_token(context.db, role, f"{role}-test", actor="test").secret
            for role in ROLES}


@pytest.fixture
async def api(context, tokens):
    app = create_app(context)
    client = TestClient(TestServer(app))
    await client.start_server()
    svc = app[SERVICES]

    def bearer(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    def session(role: str) -> tuple[dict[str, str], str]:
        """Headers carrying a UI session cookie for `role`, and that session's CSRF token."""
        who, cookie = svc.auth.login(tokens[role])
        return {"Cookie": f"spn_session={cookie}"}, svc.auth.csrf_token(who.session_nonce)

    yield SimpleNamespace(client=client, app=app, svc=svc, bearer=bearer, session=session,
                          tokens=tokens, db=context.db, store=context.store)
    await client.close()


def _png_bytes(seed: int = 0, size: int = 96) -> bytes:
    """A small synthetic, benign image (a gradient with a seed-dependent pattern)."""
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    for x in range(size):
        for y in range(size):
            pixels[x, y] = ((x * 3 + seed * 40) % 256, (y * 5 + seed * 17) % 256,
                            ((x ^ y) * (seed + 1)) % 256)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    return _png_bytes


@pytest.fixture
def record_match(context) -> Callable[..., int]:
    """Record one crawled image with one match, as the pipeline would; returns the site id."""
    db = context.db
    crawls: dict[int, int] = {}

    def record(image_url: str, *, site: str = "example", decision: str = "review",
               label: str = "synthetic", list_name: str = "demo-list") -> int:
        try:
            record_site = SiteRepository(db).get(site)
        except Exception:
            record_site = SiteRepository(db).add(NewSite(
                base_url="http://127.0.0.1:9/", name=site, owner_email="owner@example.org"))
        if record_site.id not in crawls:
            crawls[record_site.id] = CrawlRepository(db).create(record_site.id).id
        n = next(_counter)
        match = MatchRecordInput(
            list_name=list_name, algorithm="pdq", entry_hash="ab" * 32,
            query_hash=hashlib.sha256(f"q{n}".encode()).hexdigest(), distance=35,
            decision=decision, category="illegal", source="test-authority", label=label)
        ImageRecorder(db).record_image(
            crawls[record_site.id], record_site.id, "http://127.0.0.1:9/page.html", image_url,
            hashlib.sha256(image_url.encode()).hexdigest(), matches=[match])
        return record_site.id

    return record


@pytest.fixture
def owner_notice(settings, context, record_match) -> SimpleNamespace:
    """A notice to site `owned` (one auto match) and the token of its signed owner link."""
    settings.notice_batch_window_s = 0
    service = NoticeService(context.db, settings)
    record_match("http://127.0.0.1:9/owner.png", decision="auto", site="owned")
    service.apply_policy()
    [notice] = service.list()
    with context.db.session() as session:
        nonce = session.get(Notice, notice.id).owner_token_nonce
    links = OwnerLinks.from_settings(settings)
    return SimpleNamespace(notice=notice, service=service, links=links,
                           token=links.token(notice.id, nonce=nonce))
