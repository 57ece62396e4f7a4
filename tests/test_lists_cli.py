"""`spinneret lists ...` end to end against the test Redis (in-process through the real entry
point `spinneret.cli.main`, plus one real subprocess)."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
import redis

from spinneret.matcher.store import FingerprintStore, ListEntry
from tests.conftest import run_cli

MD5S = [f"{random.Random(i).getrandbits(128):032x}" for i in range(4)]
PDQS = [f"{random.Random(100 + i).getrandbits(256):064x}" for i in range(3)]


@pytest.fixture
def store(settings) -> FingerprintStore:
    return FingerprintStore(redis.Redis.from_url(settings.redis_url), settings.redis_key_prefix)


def csv_file(tmp_path: Path, name: str = "list.csv", md5s=MD5S[:3], pdqs=PDQS) -> Path:
    rows = ["algorithm,hash,label,source_id"]
    rows += [f"md5,{h},benign sample {i},m{i}" for i, h in enumerate(md5s)]
    rows += [f"pdq,{h},,p{i}" for i, h in enumerate(pdqs)]
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_import_show_ls_and_reimport_counts(cli, store, tmp_path):
    code, out, err = cli("lists", "import", str(csv_file(tmp_path)), "--list", "demo",
                         "--source", "unit-test", "--category", "policy",
                         "--description", "synthetic hashes")
    assert (code, err) == (0, "")
    assert out.strip() == (
        "imported list demo (block) version 1: added 6, removed 0, unchanged 0; "
        "entries: md5 3, pdq 3\n"
        "v1 of list demo matched 0 images seen before"  # retro-match (issue 21)
    )
    info = store.get_list("demo")
    assert (info.source, info.category, info.description, info.kind) == (
        "unit-test", "policy", "synthetic hashes", "block"
    )
    assert info.updated_by.startswith("cli")

    changed = csv_file(tmp_path, "v2.csv", md5s=MD5S[1:], pdqs=PDQS[:1])
    code, out, _ = cli("lists", "import", str(changed), "--list", "demo")
    assert code == 0
    assert "version 2: added 1, removed 3, unchanged 3; entries: md5 3, pdq 1" in out

    code, out, _ = cli("lists", "ls", "--format", "json")
    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["name"] == "demo" and record["entries"] == 4 and record["version"] == 2
    code, out, _ = cli("lists", "ls")
    assert code == 0 and "demo" in out and "md5 3, pdq 1" in out
    code, out, _ = cli("lists", "show", "demo")
    assert code == 0 and "policy" in out and "synthetic hashes" in out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
def test_export_round_trips(cli, store, tmp_path, fmt):
    source = csv_file(tmp_path)
    assert cli("lists", "import", str(source), "--list", "orig")[0] == 0
    exported = tmp_path / f"out.{fmt}"
    extra = ["--algorithm", "md5"] if fmt == "txt" else []
    code, _, err = cli("lists", "export", "orig", "--format", fmt, "--output", str(exported),
                       *extra)
    assert code == 0, err
    assert not list(tmp_path.glob("*.partial"))
    code, _, err = cli("lists", "import", str(exported), "--list", "copy", *extra)
    assert code == 0, err
    original = set(store.entries("orig", "md5" if fmt == "txt" else None))
    if fmt == "txt":  # hashes only
        original = {ListEntry(e.algorithm, e.hash) for e in original}
    assert set(store.entries("copy")) == original


def test_export_to_stdout(cli, tmp_path):
    cli("lists", "import", str(csv_file(tmp_path)), "--list", "l")
    code, out, _ = cli("lists", "export", "l", "--format", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["hash"] for r in records} == set(MD5S[:3]) | set(PDQS)
    code, out, err = cli("lists", "export", "l", "--format", "txt")
    assert code == 2 and out == "" and "TXT export needs --algorithm" in err


def test_txt_import_with_algorithm_and_allow_kind(cli, store, tmp_path):
    path = tmp_path / "allow.txt"
    path.write_text("\n".join(PDQS) + "\n")
    code, out, err = cli("lists", "import", str(path), "--list", "ok", "--kind", "allow",
                         "--algorithm", "PDQ")
    assert code == 0, err
    assert store.get_list("ok").kind == "allow"
    assert store.get_list("ok").counts == {"pdq": 3}
    path.write_text(PDQS[0] + "\n")
    code, out, err = cli("lists", "import", str(path), "--list", "ok", "--algorithm", "pdq")
    assert code == 0, err
    assert "added 0, removed 2, unchanged 1" in out
    assert store.get_list("ok").kind == "allow"  # a re-import keeps metadata not given


def test_bad_file_is_one_line_exit_2_and_store_unchanged(cli, store, tmp_path):
    cli("lists", "import", str(csv_file(tmp_path)), "--list", "l")
    before = set(store.entries("l"))
    bad = tmp_path / "bad.csv"
    bad.write_text(f"algorithm,hash\nmd5,{MD5S[3]}\nmd5,{MD5S[3][:-1]}q\n")
    code, out, err = cli("lists", "import", str(bad), "--list", "l")
    assert code == 2 and out == ""
    assert err == "error: line 3: md5 hash has a character other than 0-9a-f: 'q'\n"
    assert set(store.entries("l")) == before and store.get_list("l").version == 1

    for args, message in [
        (["lists", "import", str(tmp_path / "missing.csv"), "--list", "l"], "no such file"),
        (["lists", "import", str(bad), "--list", "bad name"], "invalid list name"),
        (["lists", "import", str(bad.with_suffix(".txt")), "--list", "l"], "no such file"),
        (["lists", "show", "nope"], "no hash list named 'nope'"),
        (["lists", "export", "nope"], "no hash list named 'nope'"),
        (["lists", "delete", "nope"], "no hash list named 'nope'"),
    ]:
        code, _, err = cli(*args)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
    txt = tmp_path / "l.txt"
    txt.write_text(MD5S[0] + "\n")
    code, _, err = cli("lists", "import", str(txt), "--list", "l")
    assert code == 2 and "needs --algorithm" in err
    assert set(store.entries("l")) == before


def test_retract_and_delete(cli, store, tmp_path):
    cli("lists", "import", str(csv_file(tmp_path)), "--list", "l")
    code, out, _ = cli("lists", "retract", "l", MD5S[0].upper())
    assert code == 0 and out.strip() == "retracted 1 entry from l"
    code, _, err = cli("lists", "retract", "l", MD5S[0], "--algorithm", "md5")
    assert code == 2 and "is not in list 'l'" in err
    assert store.get_list("l").counts == {"md5": 2, "pdq": 3}
    code, out, _ = cli("lists", "delete", "l")
    assert code == 0 and out.strip() == "deleted list l"
    assert store.lists() == []


def test_real_entry_point_in_a_subprocess(cli_env, tmp_path):
    path = csv_file(tmp_path)
    done = run_cli("lists", "import", str(path), "--list", "sub", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "added 6" in done.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"algorithm": "md5", "hash": MD5S[0]}) + "\n{oops\n")
    done = run_cli("lists", "import", str(bad), "--list", "sub", env=cli_env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: line 2: invalid JSON")
    assert "Traceback" not in done.stderr


def test_ls_csv_quotes_fields_with_commas(cli, tmp_path):
    source = 'Hotline, EU "intake"'
    assert cli("lists", "import", str(csv_file(tmp_path)), "--list", "l", "--source", source,
               "--category", "policy")[0] == 0
    code, out, _ = cli("lists", "ls", "--format", "csv")
    assert code == 0
    header, row = csv.reader(io.StringIO(out))
    assert header == ["name", "kind", "category", "source", "version", "entries", "updated_at"]
    assert row[:6] == ["l", "block", "policy", source, "1", "6"]


def test_backup_and_restore_keep_every_list_with_its_metadata(cli, store, tmp_path):
    assert cli("lists", "import", str(csv_file(tmp_path)), "--list", "blocked",
               "--source", "Hotline, EU", "--category", "illegal",
               "--description", 'authority "A" list')[0] == 0
    allow = tmp_path / "allow.csv"
    allow.write_text(f'algorithm,hash,label,source_id\npdq,{PDQS[0]},"logo, ours",a1\n')
    assert cli("lists", "import", str(allow), "--list", "ours", "--kind", "allow",
               "--category", "known-good")[0] == 0
    before = {info.name: info for info in store.lists()}
    entries = {name: set(store.entries(name)) for name in before}

    backup = tmp_path / "backup"
    code, out, err = cli("lists", "backup", str(backup))
    assert (code, err) == (0, "")
    assert out.strip() == f"backed up 2 list(s), 7 entries, to {backup}"
    assert sorted(p.name for p in backup.iterdir()) == ["blocked.csv", "lists.json", "ours.csv"]

    for name in before:
        assert cli("lists", "delete", name)[0] == 0
    code, out, err = cli("lists", "restore", str(backup))
    assert (code, err) == (0, "")
    assert "restored list ours (allow)" in out and "restored list blocked (block)" in out
    # What a restore brings back is retro-matched like an import (nothing seen here yet).
    assert "v1 of list blocked matched 0 images seen before" in out
    for name, old in before.items():
        new = store.get_list(name)
        assert (new.kind, new.source, new.category, new.description, new.counts) == (
            old.kind, old.source, old.category, old.description, old.counts), name
        assert set(store.entries(name)) == entries[name]
    assert store.get_list("ours").kind == "allow"  # an allow list stays an allow list

    # One list only; the others are left as they are.
    assert cli("lists", "delete", "ours")[0] == 0
    assert cli("lists", "retract", "blocked", MD5S[0])[0] == 0
    code, out, _ = cli("lists", "restore", str(backup), "--list", "ours")
    assert code == 0 and "blocked" not in out
    assert store.get_list("ours").kind == "allow"
    assert store.get_list("blocked").counts == {"md5": 2, "pdq": 3}


def test_restore_refuses_an_incomplete_backup_and_changes_nothing(cli, store, tmp_path):
    assert cli("lists", "import", str(csv_file(tmp_path)), "--list", "l")[0] == 0
    backup = tmp_path / "backup"
    assert cli("lists", "backup", str(backup))[0] == 0
    version = store.version()
    code, _, err = cli("lists", "restore", str(backup), "--list", "other")
    assert code == 2 and "no list other in the backup" in err
    (backup / "l.csv").unlink()
    code, out, err = cli("lists", "restore", str(backup))
    assert code == 2 and out == "" and "list 'l' has no file 'l.csv'" in err
    (backup / "lists.json").unlink()
    code, _, err = cli("lists", "restore", str(backup))
    assert code == 2 and "not a list backup" in err
    assert store.version() == version


def test_import_reports_weak_entries_and_shared_hashes_and_show_lists_them(cli, store, tmp_path):
    """Issue 13: degenerate entries are kept, counted and reported; two listed images with
    one hash both survive and the summary says how many rows share a hash."""
    weak = ["0000000000000000", "1009000800000000", "0080244020400010", "e0e0e0e0e0e0e0e0"]
    rows = ["algorithm,hash,label,source_id,quality"]
    rows += [f"dhash,{h},flat,w{i}," for i, h in enumerate(weak)]
    rows += ["phash,8000000000000000,flat,w4,"]
    rows += ["dhash,96c3a5f00f5a3c69,design light,d1,", "dhash,96c3a5f00f5a3c69,design dark,d2,"]
    rows += [f"pdq,{PDQS[0]},listed low,p0,12", f"pdq,{PDQS[1]},listed fine,p1,90"]
    path = tmp_path / "weak.csv"
    path.write_text("\n".join(rows) + "\n")
    code, out, err = cli("lists", "import", str(path), "--list", "mixed")
    assert (code, err) == (0, ""), err
    lines = out.strip().splitlines()
    assert lines[0].endswith("entries: dhash 5, pdq 2, phash 1")
    assert lines[1].startswith("2 of 9 rows share a hash with another row")
    assert lines[2].startswith("6 entries are too weak to match alone")
    entries = list(store.entries("mixed"))
    assert len(entries) == 9
    assert {e.source_id for e in entries if e.hash == "96c3a5f00f5a3c69"} == {"d1", "d2"}
    assert {e.quality for e in entries if e.algorithm == "pdq"} == {12, 90}
    code, out, _ = cli("lists", "show", "mixed", "--format", "json")
    record = json.loads(out)
    assert record["weak"] == {"dhash": 4, "pdq": 1, "phash": 1}
    assert record["rows"] == {"dhash": 6, "pdq": 2, "phash": 1}
    code, out, _ = cli("lists", "show", "mixed")
    assert code == 0 and "weak entries" in out and "rows sharing a hash" in out


def test_a_bad_quality_is_one_line_and_changes_nothing(cli, store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"algorithm,hash,quality\npdq,{PDQS[0]},101\n")
    code, out, err = cli("lists", "import", str(path), "--list", "q")
    assert code == 2
    assert err.strip().splitlines() == ["error: line 2: quality must be an integer 0-100 "
                                        "(or empty)"]
    assert store.lists() == []
