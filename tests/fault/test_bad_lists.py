"""Bad hash-list files through `spinneret lists import`: each is refused whole with its line
number in one line, or accepted whole; the list in the store is never half-replaced. Row-level
parsing is in tests/test_hashlist.py; this is the store's side, plus files that are not text
at all and a 1,000,000-line file."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest
import redis
from PIL import Image

from spinneret.matcher.store import FingerprintStore, ListEntry
from tests.conftest import report

MD5 = "0123456789abcdef0123456789abcdef"
OLD = [ListEntry("md5", f"{n:032x}", f"old {n}") for n in range(5)]


@pytest.fixture
def store(settings) -> FingerprintStore:
    store = FingerprintStore(redis.Redis.from_url(settings.redis_url), settings.redis_key_prefix)
    store.replace_list("l", OLD, source="before")
    return store


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


REFUSED = [
    # (file name, content, message the one line holds)
    ("wrong-length.csv", f"algorithm,hash\nmd5,{MD5}\nmd5,{MD5}0\n",
     "line 3: md5 hash must be 32 hex digits, got 33"),
    ("non-hex.csv", f"algorithm,hash\nmd5,{MD5}\nmd5,{MD5[:-1]}x\n",
     "line 3: md5 hash has a character other than 0-9a-f: 'x'"),
    ("unknown-algorithm.csv", f"algorithm,hash\nmd5,{MD5}\nsha1,{MD5}\n",
     "line 3: unknown hash algorithm 'sha1'"),
    ("missing-header.csv", f"md5,{MD5}\nmd5,{MD5}\n", "line 1: header lacks column 'algorithm'"),
    ("extra-columns.csv", f"algorithm,hash\nmd5,{MD5}\nmd5,{MD5},extra\n",
     "line 3: expected 2 columns"),
    ("png-named.csv", _png(), "line 1: "),
    ("png-named.txt", _png(), "line 1: "),
    ("png-named.jsonl", _png(), "line 1: invalid JSON"),
    ("garbage.csv.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 40, "cannot read"),
    ("utf16.csv", f"algorithm,hash\nmd5,{MD5}\n".encode("utf-16"), "line 1: "),
    ("nul-bytes.csv", f"algorithm,hash\nmd5,{MD5}\n".encode() + b"\x00" * 100, "line 3: "),
    ("empty.csv", b"", "line 1: empty file"),
]


@pytest.mark.parametrize(("name", "content", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_file_is_refused_whole_in_one_line(cli, store, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    code, out, err = cli("lists", "import", str(path), "--list", "l", "--algorithm", "md5")
    assert code == 2, (out, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert set(store.entries("l")) == set(OLD), "the old list is untouched"
    assert store.get_list("l").version == 1 and store.get_list("l").source == "before"


ACCEPTED = [
    # (file name, content, entries stored)
    # One hash listed for several images keeps every one (a match names them all); the same
    # row twice is one entry.
    ("duplicates.csv", f"algorithm,hash,label\nmd5,{MD5},a\nmd5,{MD5},b\nMD5,{MD5.upper()},c\n"
     f"md5,{MD5},a\n",
     {ListEntry("md5", MD5, "a"), ListEntry("md5", MD5, "b"), ListEntry("md5", MD5, "c")}),
    ("bom-crlf.csv", b"\xef\xbb\xbfalgorithm,hash\r\nmd5," + MD5.encode() + b"\r\n\r\n",
     {ListEntry("md5", MD5)}),
    ("bom-crlf.txt", b"\xef\xbb\xbf# comment\r\n" + MD5.encode() + b"\r\n",
     {ListEntry("md5", MD5)}),
    ("extra-named-column.csv", f"algorithm,hash,comment\nmd5,{MD5},ignored\n",
     {ListEntry("md5", MD5)}),
]


@pytest.mark.parametrize(("name", "content", "entries"), ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_odd_but_valid_file_is_accepted_whole(cli, store, tmp_path, name, content, entries):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    code, out, err = cli("lists", "import", str(path), "--list", "l", "--algorithm", "md5")
    assert code == 0, err
    assert set(store.entries("l")) == entries
    assert store.get_list("l").version == 2


def _big_file(path: Path, lines: int, bad_last_line: bool) -> list[str]:
    rnd = random.Random(16)
    hashes = [f"{rnd.getrandbits(64):016x}" for _ in range(lines)]
    if bad_last_line:
        hashes[-1] = hashes[-1][:-1] + "g"
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write("\n".join(hashes) + "\n")
    return hashes


@pytest.mark.parametrize("lines", [
    100_000, pytest.param(1_000_000, marks=pytest.mark.slow)], ids=["100k", "1M"])
def test_a_big_file_is_stored_whole_or_refused_at_its_last_line(cli, store, tmp_path, lines):
    bad = tmp_path / "big-bad.txt.gz"
    _big_file(bad, lines, bad_last_line=True)
    code, _, err = cli("lists", "import", str(bad), "--list", "l", "--algorithm", "phash")
    assert code == 2
    assert err.strip() == f"error: line {lines}: phash hash has a character other than 0-9a-f: 'g'"
    assert set(store.entries("l")) == set(OLD) and store.get_list("l").version == 1

    good = tmp_path / "big.txt.gz"
    hashes = _big_file(good, lines, bad_last_line=False)
    code, out, err = cli("lists", "import", str(good), "--list", "l", "--algorithm", "phash")
    assert code == 0, err
    info = store.get_list("l")
    assert info.counts == {"phash": len(set(hashes))} and info.version == 2
    stored = {entry.hash for entry in store.entries("l")}
    assert stored == set(hashes)
    report(f"{lines:,}-line list: refused whole at line {lines:,}, then stored whole "
           f"({len(stored):,} distinct hashes)")
