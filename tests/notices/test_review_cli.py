"""`spinneret review` and `spinneret matches` in-process through the real entry point: one
item per image, `--format table|json|csv`, tables that stay readable at 80 columns, and
one-line errors for bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest

from spinneret.config import reset_settings_cache
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.types import MatchRecordInput
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import matches_by_list

LONG_URL = "http://x.test/galleries/2026/summer/holiday-photos/" + "very-long-name-" * 4 + ".png"


def _hit(list_name: str, algorithm: str, distance: int, decision: str = "review"
         ) -> MatchRecordInput:
    return MatchRecordInput(list_name=list_name, algorithm=algorithm, entry_hash="ab" * 8,
                            query_hash="ab" * 7 + "00", distance=distance, decision=decision,
                            category="illegal", source="authority", label="listed photo",
                            source_id="A-17")


def _image(db, site, url: str, sha_digit: str, hits, crawl_id: int | None = None) -> int:
    crawl_id = crawl_id or CrawlRepository(db).create(site.id).id
    ImageRecorder(db).record_image(crawl_id, site.id, f"{site.base_url}page.html", url,
                                   sha_digit * 64, matches=hits)
    return crawl_id


@pytest.fixture
def recorded(db, make_site):
    site = make_site("gallery")
    hits = [_hit("list-a", "phash", 8), _hit("list-a", "dhash", 10), _hit("list-b", "phash", 8)]
    _image(db, site, LONG_URL, "a", hits)
    crawl = _image(db, site, LONG_URL, "a", hits)  # re-crawled: the same image again
    _image(db, site, "http://x.test/auto.png", "b", [_hit("list-a", "md5", 0, "auto")], crawl)
    return site, crawl


def test_review_ls_is_one_item_per_image_in_every_format(cli, recorded, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli("review", "ls", "--format", "json")
    assert code == 0, err
    [item] = [json.loads(line) for line in out.splitlines()]
    # The keys a review entry always had, then the image's evidence.
    assert {"id", "site", "image_url", "page_url", "list", "category", "algorithm",
            "distance", "label", "found_at"} <= set(item)
    assert (item["image_url"], item["entries"], item["crawls"]) == (LONG_URL, 3, 2)
    assert [(e["list_name"], e["algorithm"], e["entry_hash"], e["image_hash"])
            for e in item["evidence"]] == [
        ("list-a", "phash", "ab" * 8, "ab" * 7 + "00"),
        ("list-b", "phash", "ab" * 8, "ab" * 7 + "00"),
        ("list-a", "dhash", "ab" * 8, "ab" * 7 + "00")]

    code, out, _ = cli("review", "ls", "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["id"], row["image_url"], row["entries"]) == (str(item["id"]), LONG_URL, "3")
    assert json.loads(row["evidence"])[0]["source_id"] == "A-17"

    code, out, _ = cli("review", "ls")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(LONG_URL[:60] in line for line in lines)  # never squeezed to a sliver
    assert "entries" in out and "list-a" in out

    code, out, _ = cli("review", "show", str(item["id"]))
    assert code == 0 and "listed hash" in out and "ab" * 7 + "00" in out


def test_reject_needs_a_note_and_says_so_in_one_line(cli, recorded):
    _, out, _ = cli("review", "ls", "--format", "json")
    image_id = json.loads(out)["id"]
    code, out, err = cli("review", "reject", str(image_id))
    assert code == 2 and err.strip() == (
        "error: a rejection needs a note saying why the image is rejected (it is kept with "
        "the decision)")
    assert json.loads(cli("review", "ls", "--format", "json")[1])["id"] == image_id
    code, out, err = cli("review", "reject", str(image_id), "--note", "a beach, not a match")
    assert code == 0 and "rejected" in out
    assert cli("review", "ls", "--format", "json")[1] == ""
    [review] = json.loads(cli("matches", "show", str(image_id), "--format", "json")[1])["reviews"]
    assert (review["decision"], review["note"]) == ("reject", "a beach, not a match")


def test_matches_ls_filters_pages_and_formats(cli, recorded, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli("matches", "ls", "--format", "json")
    assert code == 0, err
    images = [json.loads(line) for line in out.splitlines()]
    assert [i["image_url"] for i in images] == ["http://x.test/auto.png", LONG_URL]
    assert [i["decision"] for i in images] == ["auto", "review"]

    _, out, _ = cli("matches", "ls", "--decision", "review", "--format", "csv")
    assert [r["image_url"] for r in csv.DictReader(io.StringIO(out))] == [LONG_URL]
    _, out, _ = cli("matches", "ls", "--list", "list-b", "--format", "json")
    assert [json.loads(line)["image_url"] for line in out.splitlines()] == [LONG_URL]
    _, out, _ = cli("matches", "ls", "--limit", "1", "--offset", "1", "--format", "json")
    assert [json.loads(line)["image_url"] for line in out.splitlines()] == [LONG_URL]
    _, out, _ = cli("matches", "ls", "--until", "2000-01-01", "--format", "json")
    assert out == ""

    code, out, _ = cli("matches", "ls")
    assert code == 0 and "Matched images (1-2 of 2)" in out
    assert max(len(line) for line in out.splitlines()) <= 80

    code, out, _ = cli("matches", "show", str(images[1]["id"]), "--format", "json")
    assert code == 0 and len(json.loads(out)["evidence"]) == 3


@pytest.mark.parametrize("args, message", [
    (("matches", "ls", "--since", "yesterday"),
     "error: --since 'yesterday' is not a date (YYYY-MM-DD)"),
    (("matches", "ls", "--decision", "maybe"), "error: unknown decision 'maybe' (auto or review)"),
    (("matches", "ls", "--site", "nope"), "error: no site named 'nope'"),
    (("matches", "show", "999"), "error: no matched image with id 999"),
    (("review", "confirm", "999"), "error: no review with id 999"),
])
def test_bad_input_is_one_line(cli, recorded, args, message):
    code, out, err = cli(*args)
    assert (code, err.strip()) == (2, message)


def test_crawl_summary_counts_images_not_rows(settings, recorded):
    _, crawl = recorded
    context = AppContext(settings)
    try:
        # 3 rows for the long URL in this crawl (2 on list-a), 1 auto row for auto.png.
        counts = matches_by_list(context, crawl)
    finally:
        context.close()
    assert counts == {("list-a", "review"): 1, ("list-b", "review"): 1, ("list-a", "auto"): 1}


@pytest.mark.parametrize("command", [
    ("crawls", "ls"), ("sites", "ls"), ("tokens", "ls"), ("stats",), ("lists", "ls"),
    ("config", "show"),
])
def test_every_listing_takes_csv(cli, recorded, command):
    code, out, err = cli(*command, "--format", "csv")
    assert code == 0, err
    header = next(csv.reader(io.StringIO(out)))
    assert header  # a header line of field names
    assert not out.lstrip().startswith(("{", "["))


def test_notices_ls_and_show_take_csv(cli, recorded, monkeypatch):
    monkeypatch.setenv("SPINNERET_NOTICE_BATCH_WINDOW_S", "0")
    monkeypatch.setenv("SPINNERET_SMTP_PORT", "9")  # nobody listens: retried later
    reset_settings_cache()
    assert cli("notices", "send")[0] == 0
    code, out, err = cli("notices", "ls", "--format", "csv")
    assert code == 0, err
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["site"] == "gallery"
    assert [i["image_url"] for i in json.loads(row["items"])] == ["http://x.test/auto.png"]
    code, out, _ = cli("notices", "show", row["id"], "--format", "csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(out)))[0]["id"] == row["id"]
