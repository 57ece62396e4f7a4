"""Hash-list files: parsing, strict validation with line numbers, export round trips.

Pure tests (no Redis): the store side is in test_store.py.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinneret.matcher.errors import HashListFileError, InvalidHashList
from spinneret.matcher.hashlist import (
    BATCH_ROWS,
    ListFormat,
    guess_format,
    parse_hash_list,
    read_hash_list,
    write_hash_list,
)
from spinneret.matcher.store import ListEntry

LENGTHS = {"md5": 32, "sha256": 64, "phash": 16, "dhash": 16, "pdq": 64}


def random_hex(rnd: random.Random, algorithm: str) -> str:
    return f"{rnd.getrandbits(LENGTHS[algorithm] * 4):0{LENGTHS[algorithm]}x}"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


MD5 = "0123456789abcdef0123456789abcdef"
PDQ = "f" * 60 + "0a1b"
PHASH = "8000000000000001"


def test_csv_with_labels_any_column_order_and_normalisation(tmp_path):
    path = write(tmp_path, "list.csv", (
        "Hash, Algorithm ,source_id,label,extra\n"
        f"{MD5.upper()},MD5,id-1,first label,ignored\n"
        f"0x{PDQ},pdq,,\"comma, quoted\",x\n"
        f"  {PHASH} ,PHash,7,,\n"
    ))
    assert list(read_hash_list(path)) == [
        ListEntry("md5", MD5, "first label", "id-1"),
        ListEntry("pdq", PDQ, "comma, quoted", ""),
        ListEntry("phash", PHASH, "", "7"),
    ]


def test_bom_crlf_blank_lines_and_duplicates_are_accepted(tmp_path):
    body = f"algorithm,hash\r\n\r\nmd5,{MD5}\r\n   \r\nmd5,{MD5}\r\npdq,{PDQ}\r\n\r\n"
    path = write(tmp_path, "list.csv", b"\xef\xbb\xbf" + body.encode())
    entries = list(read_hash_list(path))
    # Duplicates are passed on; the store collapses them (see test_store).
    assert entries == [ListEntry("md5", MD5), ListEntry("md5", MD5), ListEntry("pdq", PDQ)]
    jsonl = write(tmp_path, "list.jsonl", b"\xef\xbb\xbf" + (
        f'{{"algorithm": "md5", "hash": "{MD5}"}}\r\n\r\n'
        f'{{"algorithm": "PDQ", "hash": "{PDQ.upper()}", "label": "x", "source_id": 12}}\r\n'
    ).encode())
    assert list(read_hash_list(jsonl)) == [
        ListEntry("md5", MD5), ListEntry("pdq", PDQ, "x", "12"),
    ]
    txt = write(tmp_path, "list.txt", f"\ufeff# comment\r\n{PHASH}\r\n\r\n{PHASH.upper()}\r\n")
    assert list(read_hash_list(txt, algorithm="phash")) == [ListEntry("phash", PHASH)] * 2


BAD_ROWS = [
    # (file name, content, line, reason fragment)
    ("bad-hex.csv", f"algorithm,hash\nmd5,{MD5}\nmd5,{MD5[:-1]}g\n", 3,
     "md5 hash has a character other than 0-9a-f: 'g'"),
    ("short.csv", f"algorithm,hash\nmd5,{MD5}\n\nmd5,{MD5[:-1]}\n", 4,
     "md5 hash must be 32 hex digits, got 31"),
    ("unknown.csv", f"algorithm,hash\nsha1,{MD5}\n", 2, "unknown hash algorithm 'sha1'"),
    ("missing-column.csv", f"algorithm,hash,label\nmd5,{MD5},a\nmd5,{MD5}\n", 3,
     "expected 3 columns"),
    ("extra-column.csv", f"algorithm,hash\nmd5,{MD5},oops\n", 2, "expected 2 columns"),
    ("no-hash-column.csv", f"algorithm,digest\nmd5,{MD5}\n", 1, "header lacks column 'hash'"),
    ("empty.csv", "\n\n", 1, "empty file"),
    ("bad-json.jsonl", f'{{"algorithm": "md5", "hash": "{MD5}"}}\n{{"algorithm": "md5",\n', 2,
     "invalid JSON"),
    ("not-object.jsonl", f'{{"algorithm": "md5", "hash": "{MD5}"}}\n\n["md5"]\n', 3,
     "expected a JSON object"),
    ("missing-key.jsonl", '{"algorithm": "md5"}\n', 1, "missing key 'hash'"),
    ("bad-label.jsonl", f'{{"algorithm": "md5", "hash": "{MD5}", "label": [1]}}\n', 1,
     "'label' must be a string"),
    ("wrong-length.txt", f"{PHASH}\n{PHASH}0\n", 2, "phash hash must be 16 hex digits, got 17"),
    ("non-utf8.txt", b"8000000000000001\n80000000000000\xff1\n", 2,
     "character other than 0-9a-f"),
    ("separator.csv", f"algorithm,hash,label\nmd5,{MD5},a\x1fb\n", 2, "U+001F"),
    ("record-separator.csv", f"algorithm,hash,label\nmd5,{MD5},a\x1eb\n", 2, "U+001E"),
]


@pytest.mark.parametrize(("name", "content", "line", "reason"), BAD_ROWS,
                         ids=[row[0] for row in BAD_ROWS])
def test_every_bad_row_kind_is_rejected_with_its_line(tmp_path, name, content, line, reason):
    path = write(tmp_path, name, content)
    with pytest.raises(InvalidHashList) as info:
        list(read_hash_list(path, algorithm="phash"))
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"line {line}: ")


def test_bad_hex_far_into_a_big_file_reports_the_right_line(tmp_path):
    rnd = random.Random(3)
    rows = [f"pdq,{random_hex(rnd, 'pdq')}" for _ in range(BATCH_ROWS + 500)]
    bad_index = BATCH_ROWS + 123
    rows[bad_index] = rows[bad_index][:-1] + "z"
    path = write(tmp_path, "big.csv", "algorithm,hash\n" + "\n".join(rows) + "\n")
    with pytest.raises(InvalidHashList) as info:
        list(read_hash_list(path))
    assert info.value.line == bad_index + 2  # header is line 1


def test_csv_line_numbers_count_physical_lines_of_quoted_multiline_labels(tmp_path):
    path = write(tmp_path, "list.csv",
                 f'algorithm,hash,label\nmd5,{MD5},"two\nlines"\nmd5,nothex,x\n')
    with pytest.raises(InvalidHashList) as info:
        list(read_hash_list(path))
    assert info.value.line == 4


def test_file_level_problems_are_one_clear_error(tmp_path):
    with pytest.raises(HashListFileError, match="needs --algorithm"):
        list(read_hash_list(write(tmp_path, "a.txt", PHASH + "\n")))
    with pytest.raises(HashListFileError, match="unknown hash algorithm 'crc32'"):
        list(read_hash_list(write(tmp_path, "b.txt", PHASH + "\n"), algorithm="crc32"))
    with pytest.raises(HashListFileError, match="pass --format"):
        list(read_hash_list(write(tmp_path, "list.data", PHASH + "\n")))
    with pytest.raises(HashListFileError, match="cannot read"):
        list(read_hash_list(tmp_path / "missing.csv"))


def test_format_is_guessed_from_the_extension_and_gzip_is_read(tmp_path):
    assert guess_format(Path("x.CSV")) is ListFormat.csv
    assert guess_format(Path("x.ndjson")) is ListFormat.jsonl
    assert guess_format(Path("x.jsonl.gz")) is ListFormat.jsonl
    assert guess_format(Path("x.txt")) is ListFormat.txt
    path = tmp_path / "list.csv.gz"
    path.write_bytes(gzip.compress(f"algorithm,hash\nmd5,{MD5}\n".encode()))
    assert list(read_hash_list(path)) == [ListEntry("md5", MD5)]


def test_explicit_format_overrides_the_extension(tmp_path):
    path = write(tmp_path, "hashes.data", f'{{"algorithm": "md5", "hash": "{MD5}"}}\n')
    assert list(read_hash_list(path, format="jsonl")) == [ListEntry("md5", MD5)]


def test_progress_reports_bytes_read(tmp_path):
    path = write(tmp_path, "list.csv", f"algorithm,hash\nmd5,{MD5}\n")
    seen: list[int] = []
    list(read_hash_list(path, progress=seen.append))
    assert seen and seen[-1] == path.stat().st_size


TRICKY = [
    ListEntry("md5", MD5, 'quote " comma , semicolon ;', "id,1"),
    ListEntry("pdq", PDQ, "two\nlines and ünïcödé ✓", ""),
    ListEntry("phash", PHASH, "", "42"),
    ListEntry("dhash", "00000000000000ff", "", ""),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips(fmt):
    out = io.StringIO(newline="")
    assert write_hash_list(TRICKY, out, fmt) == len(TRICKY)
    out.seek(0)
    assert list(parse_hash_list(out, fmt)) == TRICKY


def test_txt_export_round_trips_one_algorithm_and_refuses_mixed():
    out = io.StringIO()
    assert write_hash_list(TRICKY, out, "txt", algorithm="md5") == 1
    out.seek(0)
    assert list(parse_hash_list(out, "txt", algorithm="md5")) == [ListEntry("md5", MD5)]
    with pytest.raises(HashListFileError, match="several algorithms"):
        write_hash_list(TRICKY, io.StringIO(), "txt")


_labels = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1e\x1f"), max_size=20
).map(str.strip)
_entries = st.lists(
    st.builds(
        lambda alg, bits, label, source: ListEntry(
            alg, f"{bits % (1 << LENGTHS[alg] * 4):0{LENGTHS[alg]}x}", label, source
        ),
        st.sampled_from(sorted(LENGTHS)), st.integers(min_value=0, max_value=2**256 - 1),
        _labels, _labels,
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(entries=_entries, fmt=st.sampled_from(["csv", "jsonl"]))
def test_export_then_parse_is_identity(entries, fmt):
    out = io.StringIO(newline="")
    write_hash_list(entries, out, fmt)
    out.seek(0)
    assert list(parse_hash_list(out, fmt)) == entries
