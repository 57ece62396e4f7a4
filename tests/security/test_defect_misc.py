"""Issue 18 item 5 (rest): `lists backup` onto an existing file, and operator notice
templates rendered in a sandbox; issue 16: a crawled site cannot make the crawler write
files or run code."""

from __future__ import annotations

import os

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from spinneret.notices.errors import TemplateError
from spinneret.notices.render import Renderer


def test_lists_backup_onto_an_existing_file_is_one_clear_error(cli, tmp_path):
    target = tmp_path / "not-a-dir"
    target.write_text("keep me")
    code, out, err = cli("lists", "backup", str(target))
    assert code == 2, out + err
    assert err.strip() == f"error: cannot back up to {target}: it exists and is not a directory"
    assert target.read_text() == "keep me"  # nothing lost
    code, out, err = cli("lists", "backup", str(target / "below"))
    assert code == 2 and "Traceback" not in err and err.startswith("error: cannot back up")


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ notice.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.system('id') }}",
])
def test_an_operator_template_cannot_reach_python_internals(tmp_path, payload):
    (tmp_path / "subject.txt.j2").write_text(payload)
    renderer = Renderer(tmp_path)
    with pytest.raises(TemplateError, match="unsafe|undefined"):
        renderer.render("subject.txt.j2", {"notice": object()})


def test_html_templates_escape_what_a_crawled_site_controls(tmp_path):
    (tmp_path / "x.html.j2").write_text("<a href='{{ url }}'>{{ url }}</a>")
    html = Renderer(tmp_path).render("x.html.j2", {"url": "http://s.test/'><script>x</script>"})
    assert "<script>" not in html and "&lt;script&gt;" in html


async def test_a_hostile_site_cannot_make_the_crawler_write_files_or_run_code(
        tmp_path, key_prefix, redis_server_url, monkeypatch):
    """Names, dispositions, schemes and payloads that would write or run something if the
    crawler ever trusted them: it only fetches, sniffs and hands bytes on."""
    from spinneret.crawler import Crawler, CrawlSettings, CrawlTarget, RedisFrontier

    marker = tmp_path / "pwned"
    payload = f"import os; open({str(marker)!r}, 'w').write('x')".encode()
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
           b'<script>fetch("/script-ran")</script></svg>')

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/":
            return web.Response(content_type="text/html", text=(
                '<html><body><a href="file:///etc/passwd">f</a><a href="javascript:alert(1)">j'
                '</a><img src="/evil.py"><img src="/x.svg"><img src="/pickle.png">'
                f'<a href="/../../../../{marker.name}">t</a><img src="/dispo.png">'
                '<script>location="/script-ran"</script></body></html>'))
        if request.path == "/evil.py":
            return web.Response(body=payload, content_type="image/png")
        if request.path == "/x.svg":
            return web.Response(body=svg, content_type="image/svg+xml")
        if request.path == "/pickle.png":
            return web.Response(body=b"\x80\x04cos\nsystem\n(S'touch pwned'\ntR.",
                                content_type="image/png")
        if request.path == "/dispo.png":
            return web.Response(body=payload, content_type="image/png", headers={
                "Content-Disposition": f'attachment; filename="../../{marker.name}"'})
        raise web.HTTPNotFound()

    hits: list[str] = []
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    client = aioredis.Redis.from_url(redis_server_url)
    frontier = RedisFrontier(client, key_prefix, 1)
    handed: list = []

    class Sink:
        async def submit(self, image) -> None:
            handed.append(image)

        def needs_backout(self) -> bool:
            return False

    try:
        stats = await Crawler(
            CrawlTarget.for_url(f"http://127.0.0.1:{server.port}/", site_id=1, crawl_id=1),
            CrawlSettings(allow_private_networks=True, max_retries=0), frontier, Sink()).run()
    finally:
        await frontier.clear()
        await client.aclose()
        await server.close()
    assert not marker.exists() and set(os.listdir(tmp_path)) == before
    assert "/script-ran" not in hits  # no script ran, in the page or in the SVG
    # Only the SVG is handed on (as bytes, for the hasher to skip with its reason).
    assert stats.finished and [i.url.rsplit("/", 1)[1] for i in handed] == ["x.svg"]
    assert stats.images_skipped["not_image"] == 3, stats.as_dict()  # .py, pickle, dispo
