"""Sites, crawls (run in the server process: progress, stop, resume), matches, review,
notices, tokens, health and metrics through the JSON API."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer

from spinneret.crawler.frontier import stats_key
from spinneret.records.crawls import CrawlRepository
from spinneret.records.types import CrawlFinish
from tests.sites import Route, build_site, html, png_bytes, requested

SITE = {"url": "http://127.0.0.1:9/", "name": "shop", "owner_email": "owner@example.org"}


async def test_sites_crud_and_audit(api):
    response = await api.client.post("/api/v1/sites", json=SITE, headers=api.bearer("admin"))
    assert response.status == 201, await response.text()
    assert (await response.json())["id"] > 0
    response = await api.client.post("/api/v1/sites", json=SITE, headers=api.bearer("admin"))
    assert response.status == 409 and "already exists" in (await response.json())["error"]
    response = await api.client.post("/api/v1/sites", json={**SITE, "name": "b", "url": "ftp://x"},
                                     headers=api.bearer("admin"))
    assert response.status == 400 and "http" in (await response.json())["error"]
    response = await api.client.post("/api/v1/sites", json={**SITE, "name": "c", "max_pages": "9"},
                                     headers=api.bearer("admin"))
    assert response.status == 400 and "max_pages" in (await response.json())["error"]
    # Notices go by e-mail and/or webhook: a webhook alone will do, nothing at all will not.
    no_email = {k: v for k, v in SITE.items() if k != "owner_email"}
    response = await api.client.post("/api/v1/sites", json={**no_email, "name": "d"},
                                     headers=api.bearer("admin"))
    assert response.status == 400 and "webhook" in (await response.json())["error"]
    response = await api.client.post(
        "/api/v1/sites", json={**no_email, "name": "hooked", "webhook_url": "https://h.example/n"},
        headers=api.bearer("admin"))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["owner_email"] == "" and created["webhook_secret"]
    assert (await api.client.delete("/api/v1/sites/hooked",
                                    headers=api.bearer("admin"))).status == 200
    # Extra hosts join the start URL's own (it always stays in scope); junk is refused.
    response = await api.client.post("/api/v1/sites", json={**SITE, "name": "cdn",
                                     "hosts": ["CDN.example.net"]}, headers=api.bearer("admin"))
    assert response.status == 201, await response.text()
    hosts = (await response.json())["hosts"]
    assert hosts[1:] == ["cdn.example.net"] and len(hosts) == 2
    assert (await api.client.delete("/api/v1/sites/cdn", headers=api.bearer("admin"))).status == 200
    response = await api.client.post("/api/v1/sites", json={**SITE, "name": "bad",
                                     "hosts": ["http://x/y"]}, headers=api.bearer("admin"))
    assert response.status == 400 and "not a host name" in (await response.json())["error"]

    response = await api.client.patch("/api/v1/sites/shop", json={"max_pages": 5},
                                      headers=api.bearer("admin"))
    assert (await response.json())["max_pages"] == 5
    response = await api.client.get("/api/v1/sites/shop", headers=api.bearer("viewer"))
    assert "webhook_secret" not in await response.json()
    response = await api.client.get("/api/v1/sites", headers=api.bearer("viewer"))
    assert [s["name"] for s in await response.json()] == ["shop"]
    response = await api.client.delete("/api/v1/sites/shop", headers=api.bearer("admin"))
    assert response.status == 200
    response = await api.client.delete("/api/v1/sites/shop", headers=api.bearer("admin"))
    assert response.status == 404

    response = await api.client.get("/api/v1/audit", params={"target": "site:shop"},
                                     headers=api.bearer("viewer"))
    events = await response.json()
    actions = [e["action"] for e in reversed(events)]
    # The domain's own events and the API's record of every mutating call (failures too).
    assert actions == ["site.add", "api.create_site", "api.create_site", "api.update_site",
                       "site.remove", "api.delete_site", "api.delete_site"]
    assert [e["details"]["status"] for e in reversed(events) if e["action"].startswith("api.")
            ] == [201, 409, 200, 200, 404]
    assert all(e["actor"].startswith("api:admin-test#") for e in events)


async def test_review_matches_and_notices(api, record_match):
    record_match("http://127.0.0.1:9/a.png", decision="review")
    record_match("http://127.0.0.1:9/b.png", decision="auto")
    response = await api.client.get("/api/v1/review", headers=api.bearer("viewer"))
    [entry] = await response.json()
    image_id, match_id = entry["id"], entry["evidence"][0]["match_id"]
    response = await api.client.post(f"/api/v1/review/{image_id}/confirm",
                                     json={"note": "looks right"}, headers=api.bearer("analyst"))
    assert response.status == 200
    confirmed = await response.json()
    assert (confirmed["outcome"], confirmed["explanation"]) == (
        "reviewed_confirmed", "it goes into the site's next notice")
    response = await api.client.post(f"/api/v1/review/{image_id}/reject",
                                     json={"note": "changed my mind"},
                                     headers=api.bearer("analyst"))
    assert response.status == 409 and "already" in (await response.json())["error"]
    response = await api.client.get("/api/v1/matches", params={"status": "reviewed_confirmed"},
                                    headers=api.bearer("viewer"))
    assert [m["id"] for m in await response.json()] == [match_id]
    response = await api.client.get("/api/v1/matches", params={"status": "nonsense"},
                                    headers=api.bearer("viewer"))
    assert response.status == 400

    api.svc.settings.notice_batch_window_s = 0
    api.svc.notices.apply_policy()
    response = await api.client.get("/api/v1/notices", headers=api.bearer("viewer"))
    [notice] = await response.json()
    assert len(notice["items"]) == 2
    response = await api.client.get(f"/api/v1/notices/{notice['id']}",
                                    headers=api.bearer("viewer"))
    detail = await response.json()
    assert detail["timeline"][0]["what"] == "notice opened"
    response = await api.client.get(f"/api/v1/notices/{notice['id']}/responses",
                                    headers=api.bearer("viewer"))
    assert await response.json() == []
    response = await api.client.get("/api/v1/notices/999", headers=api.bearer("viewer"))
    assert response.status == 404
    response = await api.client.get("/api/v1/stats", headers=api.bearer("viewer"))
    assert (await response.json())[0]["site"] == "example"


async def test_tokens_api(api):
    response = await api.client.post("/api/v1/tokens", json={"role": "viewer", "name": "ci"},
                                     headers=api.bearer("admin"))
    assert response.status == 201
    created = await response.json()
    assert created["token"].startswith("spn_")
    response = await api.client.get("/api/v1/whoami",
                                    headers={"Authorization": f"Bearer {created['token']}"})
    assert (await response.json())["name"] == "ci"
    response = await api.client.get("/api/v1/tokens", headers=api.bearer("admin"))
    listed = await response.json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    response = await api.client.delete(f"/api/v1/tokens/{created['id']}",
                                       headers=api.bearer("admin"))
    assert response.status == 200
    response = await api.client.get("/api/v1/whoami",
                                    headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status == 401
    response = await api.client.post("/api/v1/tokens", json={"role": "root"},
                                     headers=api.bearer("admin"))
    assert response.status == 400 and "unknown role" in (await response.json())["error"]


async def test_health_ready_metrics(api, record_match):
    assert (await api.client.get("/healthz")).status == 200
    response = await api.client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "redis": True, "sql": True, "workers": True}
    record_match("http://127.0.0.1:9/m.png", decision="review")
    api.store.replace_list("m", [], kind="block")
    response = await api.client.get("/metrics", headers=api.bearer("viewer"))
    text = await response.text()
    assert response.status == 200
    for name in ("spinneret_images_hashed_total 1.0", 'spinneret_matches_total{decision="review"} 1.0',
                 "spinneret_review_queue_depth 1.0", "spinneret_queue_depth",
                 "spinneret_crawl_pages_per_second", "spinneret_notice_deliveries",
                 "spinneret_time_to_removal_seconds_bucket", "spinneret_index_size",
                 "spinneret_api_images_hashed_total"):
        assert name in text, name


async def test_crawl_pages_counter_includes_crawls_run_elsewhere(api, record_match):
    """Crawls run by the crawler service (another process) are in SQL, not in this server's
    memory; the pages counter reads SQL so `rate()` sees them."""
    async def pages_total() -> float:
        text = await (await api.client.get("/metrics", headers=api.bearer("viewer"))).text()
        [line] = [x for x in text.splitlines()
                  if x.startswith("spinneret_crawl_pages_fetched_total ")]
        return float(line.split()[1])

    assert await pages_total() == 0
    site_id = record_match("http://127.0.0.1:9/c.png")  # one crawl, still running
    crawls = CrawlRepository(api.db)
    for pages in (7, 5):
        crawl = crawls.create(site_id)
        crawls.start(crawl.id)
        crawls.finish(crawl.id, CrawlFinish(status="finished", pages_fetched=pages))
    assert api.svc.crawls.live() == []  # none of them ran in this server
    assert await pages_total() == 12

    # A crawl running in another process: its live counters in Redis count as it goes.
    running = crawls.create(site_id)
    crawls.start(running.id)
    key = stats_key(api.svc.settings.redis_key_prefix, running.id)
    api.svc.context.redis.hset(key, "pages_fetched", 9)
    assert await pages_total() == 21
    api.svc.context.redis.hincrby(key, "pages_fetched", 1)
    assert await pages_total() == 22
    crawls.finish(running.id, CrawlFinish(status="finished", pages_fetched=10))
    api.svc.context.redis.delete(key)
    assert await pages_total() == 22


async def test_readyz_reports_redis_down(api):
    import redis

    api.svc.context.__dict__["redis"] = redis.Redis(host="127.0.0.1", port=1,
                                                    socket_connect_timeout=0.2)
    response = await api.client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["sql"]["ok"] is True


def _slow_site() -> dict[str, Route]:
    routes = {"/robots.txt": Route("", status=404)}
    for i in range(12):
        routes[f"/p{i}"] = Route(html(f'<img src="/i{i}.png"><a href="/p{i + 1}">next</a>'),
                                 delay_s=0.15)
        routes[f"/i{i}.png"] = Route(png_bytes(i, (16, 16)), content_type="image/png")
    routes["/"] = Route(html('<a href="/p0">start</a>'))
    return routes


async def _crawl(api, crawl_id):
    response = await api.client.get(f"/api/v1/crawls/{crawl_id}", headers=api.bearer("viewer"))
    return await response.json()


async def test_crawl_start_progress_stop_resume(api):
    api.svc.settings.hash_processes = 1
    site_app = build_site(_slow_site())
    server = TestServer(site_app)
    await server.start_server()
    try:
        site = {**SITE, "url": str(server.make_url("/")), "rate_per_s": 100, "max_depth": 20}
        assert (await api.client.post("/api/v1/sites", json=site,
                                      headers=api.bearer("admin"))).status == 201
        response = await api.client.post("/api/v1/crawls", json={"site": "shop"},
                                         headers=api.bearer("analyst"))
        assert response.status == 202, await response.text()
        crawl_id = (await response.json())["id"]
        response = await api.client.post("/api/v1/crawls", json={"site": "shop"},
                                         headers=api.bearer("analyst"))
        assert response.status == 409
        for _ in range(200):  # wait (bounded) until some pages are fetched
            state = await _crawl(api, crawl_id)
            if state["progress"] and state["progress"]["pages_fetched"] >= 2:
                break
            await asyncio.sleep(0.05)
        assert state["running_here"] and state["progress"]["pages_fetched"] >= 2
        response = await api.client.post(f"/api/v1/crawls/{crawl_id}/stop",
                                         headers=api.bearer("analyst"))
        assert response.status == 200
        stopped = await response.json()
        assert stopped["status"] == "running" and not stopped["running_here"]
        assert "resume" in stopped["note"]
        assert (await api.client.post(f"/api/v1/crawls/{crawl_id}/stop",
                                      headers=api.bearer("analyst"))).status == 409

        # Starting again resumes the same crawl from its frontier: nothing is fetched twice
        # except what was in flight when it was stopped.
        response = await api.client.post("/api/v1/crawls", json={"site": "shop"},
                                         headers=api.bearer("analyst"))
        assert (await response.json())["id"] == crawl_id
        for _ in range(2400):  # bounded: a loaded machine may be slow
            state = await _crawl(api, crawl_id)
            if state["status"] != "running":
                break
            await asyncio.sleep(0.05)
        assert state["status"] == "finished", state
        assert state["urls_skipped"] == {} and state["failure_reason"] is None
        counts = [requested(site_app, f"/p{i}") for i in range(12)]
        assert all(1 <= n <= 2 for n in counts), counts
        assert sum(n - 1 for n in counts) <= api.svc.settings.crawl_concurrency
    finally:
        await api.svc.crawls.close()
        await server.close()


async def test_crawl_every_site_like_crawl_all(api):
    """POST /crawls {"all": true} starts a crawl of every registered site, as
    `spinneret crawl --all` does, except a site already crawling in this server."""
    site_app = build_site(_slow_site())
    server = TestServer(site_app)
    await server.start_server()
    try:
        for site in ({**SITE, "url": str(server.make_url("/")), "rate_per_s": 100},
                     {**SITE, "name": "closed"}, {**SITE, "name": "gone"}):
            assert (await api.client.post("/api/v1/sites", json=site,
                                          headers=api.bearer("admin"))).status == 201
        for body in ({}, {"site": "shop", "all": True}, {"all": "yes"}):
            response = await api.client.post("/api/v1/crawls", json=body,
                                             headers=api.bearer("analyst"))
            assert response.status == 400, body
        response = await api.client.post("/api/v1/crawls", json={"site": "shop"},
                                         headers=api.bearer("analyst"))
        assert response.status == 202
        response = await api.client.post("/api/v1/crawls", json={"all": True},
                                         headers=api.bearer("analyst"))
        assert response.status == 202, await response.text()
        body = await response.json()
        assert sorted(c["site"] for c in body["crawls"]) == ["closed", "gone"]
        assert body["already_running"] == ["shop"]
        assert {c.site_name for c in api.svc.crawls.live()} <= {"shop", "closed", "gone"}
        response = await api.client.get("/api/v1/audit", params={"target": "crawls:all"},
                                        headers=api.bearer("viewer"))
        [event] = await response.json()
        assert event["details"]["crawls"] == sorted(c["id"] for c in body["crawls"])
    finally:
        await api.svc.crawls.close()
        await server.close()


async def test_text_and_ids_postgresql_cannot_store_are_4xx_on_every_backend(api, record_match):
    """PostgreSQL refuses NUL characters in text and ids past 32 bits, where SQLite takes
    both: the API answers the same clear 4xx on either (schemathesis found the 500s)."""
    record_match("http://127.0.0.1:9/a.png", decision="review")
    viewer, analyst = api.bearer("viewer"), api.bearer("analyst")
    for path, params in (("/api/v1/matches", {"status": "new\x00"}),
                         ("/api/v1/crawls", {"site": "\x00"}),
                         ("/api/v1/audit", {"target": "a\x00b"})):
        response = await api.client.get(path, params=params, headers=viewer)
        assert response.status == 400, (path, await response.text())
        assert "NUL" in (await response.json())["error"]
    response = await api.client.get("/api/v1/matches", params={"crawl_id": str(2**31)},
                                    headers=viewer)
    assert response.status == 400
    for path in (f"/api/v1/matches/{2**31}", f"/api/v1/notices/{2**40}"):
        response = await api.client.get(path, headers=viewer)
        assert response.status == 404, path
    [entry] = await (await api.client.get("/api/v1/review", headers=viewer)).json()
    response = await api.client.post(f"/api/v1/review/{entry['id']}/reject",
                                     json={"note": "no\x00pe"}, headers=analyst)
    assert response.status == 400 and "note" in (await response.json())["error"]
    assert len(await (await api.client.get("/api/v1/review", headers=viewer)).json()) == 1

    headers, csrf = api.session("analyst")
    response = await api.client.post(f"/review/{entry['id']}", headers=headers,
                                     data={"csrf": csrf, "action": "reject", "note": "x\x00"})
    assert response.status == 400
    assert len(await (await api.client.get("/api/v1/review", headers=viewer)).json()) == 1
    events = await (await api.client.get("/api/v1/audit", headers=viewer)).json()
    assert [e["details"]["status"] for e in events[:2]] == [400, 400]  # refused, and audited
