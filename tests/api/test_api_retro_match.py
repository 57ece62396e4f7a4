"""Retro-match through the API and the UI: an import answers at once with the retro-match
queued; the list's GET and its UI page give "vN of list X matched K images seen before"
once it ran (in-process pipeline: on the server's loop)."""

from __future__ import annotations

import asyncio

from aiohttp import FormData

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.records.matches import MatchRepository
from tests.sites import Route, build_site, serving
from tests.worker_helpers import crawled


async def _wait_done(api, name: str) -> dict:
    for _ in range(200):
        response = await api.client.get(f"/api/v1/lists/{name}", headers=api.bearer("viewer"))
        body = await response.json()
        if body["retro_match"] and body["retro_match"]["status"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"retro-match of {name} did not end: {body}")


async def test_api_import_reports_retro_match_and_ui_shows_it(api, settings):
    data = encode(generate(41, (320, 240)))
    gone = encode(generate(42, (320, 240)))
    # /gone.png was crawled but answers 404 now.
    async with serving(build_site({"/a.png": Route(body=data, content_type="image/png")})
                       ) as base:
        crawled(api.db, settings, base, {"/a.png": data, "/gone.png": gone}, name="retro")
        pdq = [hash_image(b, HashOptions(("pdq",))).get("pdq").hex for b in (data, gone)]
        csv = f"algorithm,hash,label,source_id\npdq,{pdq[0]},a,1\npdq,{pdq[1]},g,2\n"
        response = await api.client.post("/api/v1/lists/X/import", data=csv.encode(),
                                          params={"format": "csv"},
                                          headers=api.bearer("analyst"))
        assert response.status == 200, await response.text()
        result = await response.json()
        assert (result["added"], result["retro_match"]["status"]) == (2, "queued")
        body = await _wait_done(api, "X")
        retro = body["retro_match"]
        assert retro["summary"] == "v1 of list X matched 1 images seen before"
        assert (retro["status"], retro["matched"], retro["gone"]) == ("done", 1, 1)
        assert [m.image_url for m in MatchRepository(api.db).list()] == [f"{base}/a.png"]

        headers, csrf = api.session("analyst")
        response = await api.client.get("/lists/X", headers=headers)
        assert "v1 of list X matched 1 images seen before" in await response.text()
        form = FormData()
        form.add_field("list", "X")
        form.add_field("file", csv.encode(), filename="x.csv")
        response = await api.client.post(f"/lists/import?csrf={csrf}", data=form,
                                          headers=headers)
        assert response.status == 200
        assert "v2 of list X: retro-match queued" in await response.text()
        assert (await _wait_done(api, "X"))["retro_match"]["summary"] == (
            "v2 of list X matched 0 images seen before")


async def test_an_hma_bank_that_grows_is_retro_matched(api, settings):
    """HMA's add-content grows a bank (a list): its new entry is matched against the images
    seen before, as an import's are; HMA's own answer is unchanged."""
    data = encode(generate(43, (320, 240)))
    async with serving(build_site({"/b.png": Route(body=data, content_type="image/png")})
                       ) as base:
        crawled(api.db, settings, base, {"/b.png": data}, name="retro-hma")
        api.store.replace_list("HMA_BANK", [], kind="block")
        pdq = hash_image(data, HashOptions(("pdq",))).get("pdq").hex
        response = await api.client.post("/hma/c/bank/HMA_BANK/signal", json={"pdq": pdq},
                                          headers=api.bearer("analyst"))
        assert response.status == 200, await response.text()
        assert set(await response.json()) == {"id", "signals"}
        retro = (await _wait_done(api, "HMA_BANK"))["retro_match"]
        assert retro["summary"] == "v2 of list HMA_BANK matched 1 images seen before"
        assert [m.image_url for m in MatchRepository(api.db).list()] == [f"{base}/b.png"]
