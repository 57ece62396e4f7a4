"""A real browser (Debian's chromium through Playwright) against a running `spinneret serve`:
an analyst logs in, imports a list through the form and sees it listed, confirms a review
item; a site owner opens a signed link and disputes. Screenshots go to test-output/."""

from __future__ import annotations

from pathlib import Path

import pytest

from records.tokens import create_token
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
