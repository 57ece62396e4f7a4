"""Exchange formats through `spinneret lists import/export`: python-threatexchange's dataset
CSV and local-file format, auto-detected or named with --format; realistic files with
malformed rows (rejected whole, the line named, the stored list unchanged); the export read
back by Spinneret and by the real `threatexchange` package."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
import redis

from spinneret.matcher.store import FingerprintStore, ListEntry

PDQS = [f"{random.Random(300 + i).getrandbits(256):064x}" for i in range(4)]
MD5S = [f"{random.Random(400 + i).getrandbits(128):032x}" for i in range(3)]
SHA256 = f"{random.Random(500).getrandbits(256):064x}"

# As `threatexchange dataset --csv` writes it: one row per signal and collaboration, URL and
# text signals mixed in, the aggregate opinion's category, space-separated tags.
TE_DATASET = f"""signal_type,signal_str,collab,category,tags
pdq,{PDQS[0]},Synthetic Sharing,POSITIVE_CLASS,synthetic benign
pdq,{PDQS[1]},Synthetic Sharing,POSITIVE_CLASS,
video_md5,{MD5S[0]},Synthetic Sharing,POSITIVE_CLASS,video sample
url,https://example.org/landing,Synthetic Sharing,POSITIVE_CLASS,
raw_text,a benign sentence,Synthetic Sharing,INVESTIGATION_SEED,
pdq,{PDQS[2]},Synthetic Sharing,NEGATIVE_CLASS,false_positive
pdq,{PDQS[3]},Synthetic Sharing,INVESTIGATION_SEED,needs_review
video_sha256,{SHA256},Other Collab,POSITIVE_CLASS,"tag-a tag-b"
pdq,{PDQS[0]},Other Collab,POSITIVE_CLASS,synthetic benign
"""

# As python-threatexchange's local-file exchange reads it.
TE_FILE = f"""pdq {PDQS[0]}
video_md5 {MD5S[1]}

url https://example.org/elsewhere
pdq {PDQS[1]}
"""


@pytest.fixture
def store(settings) -> FingerprintStore:
    return FingerprintStore(redis.Redis.from_url(settings.redis_url), settings.redis_key_prefix)


def entries(store: FingerprintStore, name: str) -> set[tuple[str, str, str]]:
    return {(e.algorithm, e.hash, e.label) for e in store.entries(name)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_dataset_csv_is_detected_and_only_positive_image_signals_are_imported(
        cli, store, tmp_path):
    code, out, err = cli("lists", "import", str(write(tmp_path, "dump.csv", TE_DATASET)),
                         "--list", "te", "--category", "illegal")
    assert (code, err) == (0, ""), out
    assert entries(store, "te") == {
        ("pdq", PDQS[0], "synthetic benign"), ("pdq", PDQS[1], ""),
        ("md5", MD5S[0], "video sample"), ("sha256", SHA256, "tag-a tag-b")}
    # Negative (false positive) and investigation-seed rows never enter a block list.
    assert PDQS[2] not in out and store.get_list("te").counts == {"md5": 1, "pdq": 2,
                                                                  "sha256": 1}


def test_local_file_format_is_detected_or_named(cli, store, tmp_path):
    path = write(tmp_path, "signals.txt", TE_FILE)
    assert cli("lists", "import", str(path), "--list", "local")[0] == 0
    assert entries(store, "local") == {("pdq", PDQS[0], ""), ("md5", MD5S[1], ""),
                                       ("pdq", PDQS[1], "")}
    other = write(tmp_path, "signals.data", TE_FILE)  # no telling extension: --format
    code, _out, err = cli("lists", "import", str(other), "--list", "named",
                          "--format", "threatexchange-file")
    assert (code, err) == (0, "")
    assert entries(store, "named") == entries(store, "local")


@pytest.mark.parametrize(("name", "text", "line", "reason"), [
    ("bad-hash.csv", TE_DATASET.replace(PDQS[1], PDQS[1][:-2] + "zz"), 3,
     "pdq hash has a character other than 0-9a-f"),
    ("short-hash.csv", TE_DATASET.replace(MD5S[0], MD5S[0][:20]), 4,
     "md5 hash must be 32 hex digits, got 20"),
    # A left-out row is checked too: a broken file is not half understood.
    ("bad-negative.csv", TE_DATASET.replace(PDQS[2], "0x" + PDQS[2][:10]), 7,
     "pdq hash must be 64 hex digits"),
    ("category.csv", TE_DATASET.replace("NEGATIVE_CLASS", "MAYBE"), 7,
     "unknown category 'MAYBE'"),
    ("signal-type.csv", TE_DATASET.replace("video_md5,", "photo_crc,"), 4,
     "unknown signal type 'photo_crc'"),
    ("columns.csv", TE_DATASET.replace(",Other Collab,POSITIVE_CLASS,\"tag-a tag-b\"",
                                       ",Other Collab"), 9, "expected 5 columns"),
    ("header.csv", TE_DATASET.replace("tags\n", "tags,collab\n", 1), 1,
     "header must name signal_type,signal_str"),
    ("local.txt", TE_FILE.replace(f"pdq {PDQS[1]}", f"pdq {PDQS[1][:63]}"), 5,
     "pdq hash must be 64 hex digits, got 63"),
    ("local-missing.txt", TE_FILE.replace(f"video_md5 {MD5S[1]}", "video_md5 "), 2,
     "expected '<signal_type> <signal>'"),
])
def test_a_malformed_row_rejects_the_whole_file_naming_its_line(cli, store, tmp_path, name,
                                                                text, line, reason):
    store.replace_list("kept", [ListEntry("md5", MD5S[2], "before")], kind="block")
    code, out, err = cli("lists", "import", str(write(tmp_path, name, text)), "--list", "kept")
    assert code != 0
    message = (out + err).strip()
    assert message.startswith(f"error: line {line}: ") or f"line {line}: " in message, message
    assert reason in message, message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert entries(store, "kept") == {("md5", MD5S[2], "before")}


def test_export_round_trips_through_spinneret(cli, store, tmp_path):
    original = [ListEntry("pdq", PDQS[0], "synthetic benign"), ListEntry("md5", MD5S[0], ""),
                ListEntry("sha256", SHA256, "tag"), ListEntry("phash", "0f" * 8, "weak")]
    store.replace_list("source-list", original, kind="block", source="Synthetic Sharing")
    for fmt, suffix in (("threatexchange-csv", "csv"), ("threatexchange-file", "txt")):
        path = tmp_path / f"export.{suffix}"
        code, _out, err = cli("lists", "export", "source-list", "--format", fmt,
                              "--output", str(path))
        assert code == 0, err
        assert cli("lists", "import", str(path), "--list", f"back-{suffix}")[0] == 0
    labels = {(e.algorithm, e.hash, e.label) for e in original}
    assert entries(store, "back-csv") == labels
    assert entries(store, "back-txt") == {(a, h, "") for a, h, _ in labels}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "export.csv").read_text())))
    assert {r["signal_type"] for r in rows} == {"pdq", "video_md5", "video_sha256", "phash"}
    assert {r["collab"] for r in rows} == {"Synthetic Sharing"}
    assert {r["category"] for r in rows} == {"POSITIVE_CLASS"}


def test_the_threatexchange_package_reads_our_export(cli, store, tmp_path):
    te = pytest.importorskip("threatexchange", reason="pip install -e '.[test]'")
    from threatexchange.exchanges.fetch_state import SignalOpinionCategory
    from threatexchange.exchanges.impl.file_api import (
        FileCollaborationConfig,
        LocalFileSignalExchangeAPI,
    )
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal

    assert te is not None
    types = {t.get_name(): t for t in (PdqSignal, VideoMD5Signal, VideoSHA256Signal)}
    store.replace_list("for-te", [ListEntry("pdq", PDQS[0], "a b"),
                                  ListEntry("md5", MD5S[0]), ListEntry("sha256", SHA256)],
                       kind="block", source="Spinneret Sharing")
    csv_path, file_path = tmp_path / "te.csv", tmp_path / "te.txt"
    assert cli("lists", "export", "for-te", "--format", "threatexchange-csv",
               "-o", str(csv_path))[0] == 0
    assert cli("lists", "export", "for-te", "--format", "threatexchange-file",
               "-o", str(file_path))[0] == 0

    expected = {("pdq", PDQS[0]), ("video_md5", MD5S[0]), ("video_sha256", SHA256)}
    # The local file, read by python-threatexchange's own file exchange.
    collab = FileCollaborationConfig(name="spinneret", api="local_file", filename=str(file_path))
    deltas = list(LocalFileSignalExchangeAPI.for_collab(collab).fetch_iter(
        list(types.values()), None))
    fetched = {key for delta in deltas for key in delta.updates}
    assert fetched == expected
    # The dataset CSV: every row's signal valid for its python-threatexchange signal type.
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert {(r["signal_type"], types[r["signal_type"]].validate_signal_str(r["signal_str"]))
            for r in rows} == expected
    assert {SignalOpinionCategory[r["category"]] for r in rows} == {
        SignalOpinionCategory.POSITIVE_CLASS}
    assert {r["collab"] for r in rows} == {"Spinneret Sharing"}


# A saved NCMEC Hash Sharing v2 query result (synthetic ids and hashes): entries with MD5,
# SHA-1, PhotoDNA and PDQ fingerprints, a video, and tombstones for deleted entries.
NCMEC = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
    <images count="3" maxTimestamp="2026-11-24T14:00:00Z">
        <image>
            <member id="42">Example Member</member>
            <timestamp>2026-11-24T14:00:00Z</timestamp>
            <id>image1</id>
            <classification>A1</classification>
            <fingerprints>
                <md5>{MD5S[0]}</md5>
                <sha1>{"a" * 40}</sha1>
                <pdna>{"b" * 60}</pdna>
                <pdq>{PDQS[0]}</pdq>
            </fingerprints>
        </image>
        <image>
            <member id="42">Example Member</member>
            <timestamp>2026-11-24T14:00:01Z</timestamp>
            <id>image2</id>
            <classification>B1</classification>
            <fingerprints>
                <md5>{MD5S[1]}</md5>
            </fingerprints>
        </image>
        <deletedImage>
            <member id="42">Example Member</member>
            <timestamp>2026-11-24T14:00:02Z</timestamp>
            <id>image3</id>
            <fingerprints>
                <md5>{MD5S[1]}</md5>
                <pdq>{PDQS[2]}</pdq>
            </fingerprints>
        </deletedImage>
    </images>
    <videos count="1" maxTimestamp="2026-11-24T14:00:00Z">
        <video>
            <member id="7">Other Member</member>
            <timestamp>2026-11-24T14:00:00Z</timestamp>
            <id>video1</id>
            <classification>A2</classification>
            <fingerprints>
                <md5>{MD5S[2]}</md5>
                <videntifier rel="self" href="/v2/video1VidentifierUrl" />
            </fingerprints>
        </video>
    </videos>
</queryResult>
"""

# A saved page of the TCAP hash-list API (synthetic values).
TCAP = f"""{{
  "count": 4,
  "next": null,
  "previous": null,
  "checkpoint": "2026-11-24T14:00:00Z,1004",
  "results": [
    {{"hash_digest": "{PDQS[0]}", "algorithm": "PDQ", "ideology": "far-right",
      "file_type": "png", "deleted": false, "updated_on": 1700000000.0,
      "created_on": "2026-01-01T00:00:00Z", "id": 1001}},
    {{"hash_digest": "{SHA256}", "algorithm": "SHA256", "ideology": "islamist",
      "file_type": "jpg", "deleted": false, "updated_on": 1700000001.0,
      "created_on": "2026-01-01T00:00:00Z", "id": 1002}},
    {{"hash_digest": "{"c" * 128}", "algorithm": "SHA512", "ideology": "islamist",
      "file_type": "jpg", "deleted": false, "updated_on": 1700000002.0,
      "created_on": "2026-01-01T00:00:00Z", "id": 1003}},
    {{"hash_digest": "{MD5S[0]}", "algorithm": "MD5", "ideology": "islamist",
      "file_type": "mp4", "deleted": true, "updated_on": 1700000003.0,
      "created_on": "2026-01-01T00:00:00Z", "id": 1004}}
  ]
}}
"""


def test_ncmec_query_result_with_tombstones(cli, store, tmp_path):
    code, out, err = cli("lists", "import", str(write(tmp_path, "ncmec.xml", NCMEC)),
                         "--list", "ncmec", "--category", "illegal")
    assert (code, err) == (0, ""), out
    # image2's MD5 is retracted by image3's tombstone; SHA-1, PhotoDNA, Videntifier have
    # no Spinneret algorithm.
    assert {(e.algorithm, e.hash, e.label, e.source_id) for e in store.entries("ncmec")} == {
        ("md5", MD5S[0], "A1", "ncmec:image1"), ("pdq", PDQS[0], "A1", "ncmec:image1"),
        ("md5", MD5S[2], "A2", "ncmec:video1")}


def test_tcap_page_with_deleted_entries(cli, store, tmp_path):
    code, out, err = cli("lists", "import", str(write(tmp_path, "tcap.json", TCAP)),
                         "--list", "tcap")
    assert (code, err) == (0, ""), out
    assert {(e.algorithm, e.hash, e.label, e.source_id) for e in store.entries("tcap")} == {
        ("pdq", PDQS[0], "far-right", "tcap:1001"), ("sha256", SHA256, "islamist", "tcap:1002")}


@pytest.mark.parametrize(("name", "text", "line", "reason"), [
    ("bad-pdq.xml", NCMEC.replace(PDQS[0], PDQS[0][:60]), 13, "pdq hash must be 64 hex"),
    ("broken.xml", NCMEC.replace("</classification>\n            <fingerprints>\n"
                                 f"                <md5>{MD5S[1]}",
                                 "</classification>\n            <fingerprints>\n"
                                 f"                <md5>{MD5S[1]}</pdq>", 1), 22,
     "malformed XML: mismatched tag"),
    ("no-id.xml", NCMEC.replace("<id>video1</id>", ""), 36, "entry without an <id>"),
    ("not-ncmec.xml", "<?xml version='1.0'?>\n<hashes><md5>x</md5></hashes>\n", 2,
     "expected an NCMEC <queryResult> document"),
    ("bad-sha.json", TCAP.replace(SHA256, SHA256[:-1] + "g"), 10,
     "sha256 hash has a character other than 0-9a-f"),
    ("algorithm.json", TCAP.replace('"algorithm": "PDQ"', '"algorithm": "PHOTODNA"'), 7,
     "unknown algorithm 'PHOTODNA'"),
    ("deleted.json", TCAP.replace('"deleted": true', '"deleted": "yes"'), 16,
     "'deleted' must be true or false"),
    ("truncated.json", TCAP[:-30], 18, "invalid JSON"),
])
def test_programme_files_with_a_bad_entry_are_rejected_whole(cli, store, tmp_path, name, text,
                                                             line, reason):
    store.replace_list("kept", [ListEntry("md5", MD5S[2], "before")], kind="block")
    code, out, err = cli("lists", "import", str(write(tmp_path, name, text)), "--list", "kept")
    message = (out + err).strip()
    assert code != 0 and f"line {line}: " in message and reason in message, message
    assert len(message.splitlines()) == 1
    assert entries(store, "kept") == {("md5", MD5S[2], "before")}


@pytest.mark.parametrize("fmt", ["ncmec-xml", "tcap-json"])
def test_a_programme_file_that_is_not_text_is_one_line_error(cli, store, tmp_path, fmt):
    """Bytes that are not UTF-8 (an image posted as a list) are refused, not a traceback."""
    store.replace_list("kept", [ListEntry("md5", MD5S[2], "before")], kind="block")
    path = tmp_path / "image.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    code, out, err = cli("lists", "import", str(path), "--list", "kept", "--format", fmt)
    message = (out + err).strip()
    assert code == 2 and "not UTF-8 text" in message and len(message.splitlines()) == 1, message
    assert entries(store, "kept") == {("md5", MD5S[2], "before")}
