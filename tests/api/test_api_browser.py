"""A real browser (Debian's chromium through Playwright) against a running `spinneret serve`:
an analyst logs in, imports a list through the form and sees it listed, confirms a review
item; a site owner opens a signed link and disputes. Screenshots go to test-output/."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinneret.records.tokens import create_token
from tests.api.served import spinneret_serve

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install chromium)")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        yield browser
        browser.close()


def test_analyst_and_owner_in_a_browser(settings, context, owner_notice, record_match,
                                        browser, tmp_path):
    OUTPUT.mkdir(exist_ok=True)
    analyst = create_token(context.db, "analyst", "browser-analyst", actor="test").secret
    record_match("http://127.0.0.1:9/review-me.png", decision="review", label="borderline")
    service, notice = owner_notice.service, owner_notice.notice
    list_file = tmp_path / "browser-list.csv"
    list_file.write_text("algorithm,hash,label\nmd5," + "d" * 32 + ",synthetic\n")

    with spinneret_serve(settings, tmp_path / "serve.log") as base:
        page = browser.new_page()
        page.goto(f"{base}/lists")
        assert "/login" in page.url
        page.fill("input[name=token]", analyst)
        page.click("button:has-text('Log in')")
        page.wait_for_url(lambda url: url.startswith(f"{base}/lists"))
        assert "Logged in as browser-analyst" in page.content()

        page.fill("input[name=list]", "browser-list")
        page.fill("input[name=category]", "policy")
        page.set_input_files("input[name=file]", str(list_file))
        page.click("button:has-text('Import')")
        page.wait_for_selector("text=Imported list browser-list version 1")
        page.screenshot(path=str(OUTPUT / "ui-list-imported.png"), full_page=True)
        page.click("nav >> text=Lists")
        assert page.locator("table >> text=browser-list").count() == 1
        page.screenshot(path=str(OUTPUT / "ui-lists.png"), full_page=True)

        page.click("nav >> text=Review")
        assert "review-me.png" in page.content()
        page.fill("section.review input[name=note]", "checked by hand")
        page.click("section.review button:has-text('Confirm')")
        page.wait_for_selector("text=confirmed")
        assert "The review queue is empty" in page.content()
        page.screenshot(path=str(OUTPUT / "ui-review-confirmed.png"), full_page=True)

        page.click("nav >> text=Dashboard")
        page.screenshot(path=str(OUTPUT / "ui-dashboard.png"), full_page=True)
        page.click("nav >> text=Audit log")
        assert "browser-analyst" in page.content()

        owner = browser.new_page()  # no session: owners only have the signed link
        owner.goto(f"{base}/owner/{owner_notice.token}")
        assert "owner.png" in owner.content()
        owner.fill("textarea[name=comment]", "This is our own product photo.")
        owner.click("button:has-text('Dispute')")
        owner.wait_for_selector("text=Your dispute is recorded")
        owner.screenshot(path=str(OUTPUT / "owner-disputed.png"), full_page=True)

    assert context.store.get_list("browser-list").counts == {"md5": 1}
    assert service.show(notice.id).status == "disputed"
    assert [m.status for m in service.review_queue()] == []
    for name in ("ui-lists.png", "ui-review-confirmed.png", "owner-disputed.png"):
        assert (OUTPUT / name).stat().st_size > 1000


def _record_image(db, site_id: int, url: str, hits: list, *, crawl_id: int | None = None
                  ) -> None:
    import hashlib

    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.images import ImageRecorder

    crawl_id = crawl_id or CrawlRepository(db).create(site_id).id
    ImageRecorder(db).record_image(crawl_id, site_id, "http://127.0.0.1:9/gallery.html", url,
                                   hashlib.sha256(url.encode()).hexdigest(), matches=hits)


def _hit(list_name: str, algorithm: str, entry: str, image: str, distance: int,
         decision: str = "review"):
    from spinneret.records.types import MatchRecordInput

    return MatchRecordInput(list_name=list_name, algorithm=algorithm, entry_hash=entry,
                            query_hash=image, distance=distance, decision=decision,
                            category="illegal", source="test-authority",
                            label=f"{list_name} entry", source_id=f"{list_name}-7")


def test_review_matches_and_crawls_pages_in_a_browser(settings, context, browser, tmp_path):
    """One review item per image with its evidence side by side; a rejection needs a note;
    the matches page pages and filters images; a crawl's failure and progress show live."""
    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.sites import SiteRepository
    from spinneret.records.types import CrawlFinish, NewSite

    OUTPUT.mkdir(exist_ok=True)
    db = context.db
    analyst = create_token(db, "analyst", "browser-analyst", actor="test").secret
    site = SiteRepository(db).add(NewSite(base_url="http://127.0.0.1:9/", name="gallery",
                                          owner_email="owner@example.org"))
    borderline = [_hit("list-a", "pdq", "f" * 64, "f" * 58 + "0c0000", 14),
                  _hit("list-a", "phash", "0123456789abcdef", "0123456789abcd00", 8),
                  _hit("list-b", "pdq", "f" * 64, "f" * 58 + "0c0000", 14)]
    _record_image(db, site.id, "http://127.0.0.1:9/border.png", borderline)
    _record_image(db, site.id, "http://127.0.0.1:9/border.png", borderline)  # re-crawled
    crawl = CrawlRepository(db).create(site.id).id
    for n in range(55):
        _record_image(db, site.id, f"http://127.0.0.1:9/photo-{n:02}.jpg",
                      [_hit("list-c" if n % 5 else "list-d", "md5", f"{n:032x}", f"{n:032x}",
                            0, decision="auto")], crawl_id=crawl)
    watched = CrawlRepository(db).create(site.id)
    CrawlRepository(db).start(watched.id)  # "running" in no server process: polled

    with spinneret_serve(settings, tmp_path / "serve.log") as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/review")
        page.fill("input[name=token]", analyst)
        page.click("button:has-text('Log in')")
        page.wait_for_url(lambda url: url.startswith(f"{base}/review"))
        items = page.locator("section.review")
        assert items.count() == 1  # one image, however many rows it has
        assert items.locator("table.evidence tbody tr").count() == 3
        assert items.locator("mark").count() == 6 + 2 + 6  # the digits that differ
        page.screenshot(path=str(OUTPUT / "ui-review-item.png"), full_page=True)
        before = page.url
        items.locator("button:has-text('Reject')").click()  # no note: the browser refuses
        assert page.url == before and items.count() == 1
        items.locator("input[name=note]").fill("a landscape, not the listed image")
        items.locator("button:has-text('Reject')").click()
        page.wait_for_selector("text=rejected; its URL + hashes are suppressed")
        assert "The review queue is empty" in page.content()

        page.click("nav >> text=Matches")
        assert page.locator("#matches-count").inner_text().startswith("Images 1–50 of 56")
        assert page.locator("table tbody tr").count() == 50
        page.screenshot(path=str(OUTPUT / "ui-matches.png"), full_page=True)
        page.click("a[rel=next]")
        assert page.locator("#matches-count").inner_text().startswith("Images 51–56 of 56")
        page.select_option("select[name=list]", "list-d")
        page.click("button:has-text('Filter')")
        assert page.locator("#matches-count").inner_text().startswith("Images 1–11 of 11")
        page.goto(f"{base}/matches?list=list-b")
        page.click("table tbody tr >> a")
        assert page.locator("#state").inner_text() == "rejected in review"
        assert "a landscape, not the listed image" in page.locator(".review-decision").inner_text()
        assert page.locator("table.evidence tbody tr").count() == 3
        page.screenshot(path=str(OUTPUT / "ui-match-detail.png"), full_page=True)

        page.click("nav >> text=Crawls")
        row = page.locator(f"tr[data-crawl='{watched.id}']")
        assert row.locator("[data-field=status]").inner_text() == "running"
        CrawlRepository(db).finish(watched.id, CrawlFinish(
            status="failed", failure_reason="robots.txt could not be fetched: timeout"))
        # No reload: the page polls and shows the failure.
        row.locator("[data-field=failure]").filter(has_text="robots.txt").wait_for(
            timeout=15000)
        assert row.locator("[data-field=status]").inner_text() == "failed"
        page.screenshot(path=str(OUTPUT / "ui-crawls-live.png"), full_page=True)
        row.locator("a").first.click()
        assert "robots.txt could not be fetched" in page.locator("#failure").inner_text()
        page.screenshot(path=str(OUTPUT / "ui-crawl-detail.png"), full_page=True)

        page.click("nav >> text=Dashboard")
        assert "56 distinct URLs" in page.locator("#images-today").inner_text()
        page.screenshot(path=str(OUTPUT / "ui-dashboard-counts.png"), full_page=True)
