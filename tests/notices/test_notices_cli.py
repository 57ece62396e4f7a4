"""`spinneret notices|review|stats` through the real entry point (subprocesses)."""

from __future__ import annotations

import json

from spinneret.notices.service import NoticeService
from spinneret.records.sites import SiteRepository
from tests.conftest import run_cli


def test_review_notices_and_stats_commands(db, settings, clock, make_site, record_match,
                                           cli_env):
    site = make_site("cli-site")
    record_match(site, "http://x.test/auto.png")
    record_match(site, "http://x.test/borderline.png", decision="review", distance=36)
    record_match(site, "http://x.test/fp.png", decision="review", distance=39)
    env = {**cli_env, "SPINNERET_NOTICE_BATCH_WINDOW_S": "0", "SPINNERET_SMTP_PORT": "9"}

    queue = run_cli("review", "ls", "--format", "json", env=env)
    assert queue.returncode == 0, queue.stderr
    ids = {json.loads(line)["image_url"]: json.loads(line)["id"]
           for line in queue.stdout.splitlines()}
    assert set(ids) == {"http://x.test/borderline.png", "http://x.test/fp.png"}
    confirmed = run_cli("review", "confirm", str(ids["http://x.test/borderline.png"]),
                        env=env)
    assert confirmed.returncode == 0 and "goes into the site's next notice" in confirmed.stdout
    rejected = run_cli("review", "reject", str(ids["http://x.test/fp.png"]), "--note",
                       "not a match", env=env)
    assert rejected.returncode == 0 and "suppressed" in rejected.stdout
    again = run_cli("review", "reject", str(ids["http://x.test/fp.png"]), env=env)
    assert again.returncode == 2 and again.stderr.strip() == (
        f"error: review {ids['http://x.test/fp.png']} is already decided: rejected in review")

    sent = run_cli("notices", "send", env=env)  # SMTP port 9: nobody listens, retried later
    assert sent.returncode == 0, sent.stderr
    listed = run_cli("notices", "ls", "--site", "cli-site", "--format", "json", env=env)
    [notice] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert notice["site"] == notice["site_name"] == "cli-site" and notice["status"] == "sent"
    assert {"id", "site", "status", "items", "deliveries", "created_at", "sent_at",
            "window_ends_at", "reminders_sent"} <= set(notice)
    assert sorted(i["image_url"] for i in notice["items"]) == [
        "http://x.test/auto.png", "http://x.test/borderline.png"]
    assert notice["deliveries"][0]["status"] == "pending"
    assert notice["deliveries"][0]["attempts"] == 1 and notice["created_at"]

    bad = run_cli("notices", "ls", "--status", "bogus", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown status 'bogus'")
    missing = run_cli("notices", "show", "999", env=env)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no notice with id 999"
    shown = run_cli("notices", "show", str(notice["id"]), "--format", "json", env=env)
    assert shown.returncode == 0 and "http://x.test/auto.png" in shown.stdout
    assert json.loads(shown.stdout)["site"] == "cli-site"
    resent = run_cli("notices", "resend", str(notice["id"]), env=env)
    assert resent.returncode == 0 and "1 deliveries queued" in resent.stdout
    assert len(NoticeService(db, settings, clock=clock).show(notice["id"]).deliveries) == 2

    stats = run_cli("stats", "--format", "json", env=env)
    [row] = [json.loads(line) for line in stats.stdout.splitlines()]
    assert (row["site"], row["open"], row["removed"]) == ("cli-site", 2, 0)
    assert run_cli("notices", "recheck", env=env).returncode == 0


def test_site_with_only_a_webhook_gets_webhook_notices(db, settings, clock, record_match,
                                                       cli_env):
    """Notices go by e-mail and/or webhook, so a site needs one of the two, not an e-mail."""
    hook = "http://127.0.0.1:9/hook"
    added = run_cli("sites", "add", "http://127.0.0.1:9/", "--name", "hook-only",
                    "--webhook", hook, env=cli_env)
    assert added.returncode == 0, added.stderr
    neither = run_cli("sites", "add", "http://127.0.0.1:9/", "--name", "nobody", env=cli_env)
    assert neither.returncode == 2 and neither.stderr.strip() == (
        "error: a site needs an owner e-mail or a webhook URL to receive notices")

    site = SiteRepository(db).get("hook-only")
    assert site.owner_email == "" and site.webhook_secret
    record_match(site, "http://x.test/hooked.png")
    settings.notice_batch_window_s = 0
    service = NoticeService(db, settings, clock=clock)
    service.apply_policy()
    [notice] = service.list()
    assert [(d.channel, d.recipient) for d in notice.deliveries] == [("webhook", hook)]
