"""Sites that misbehave at the HTTP level, crawled through the real pipeline: a slowloris
trickle, connections reset, redirect loops, a page whose markup cannot be parsed into a base
URL. Each costs at most its time cap and retries, is counted with its reason, and the rest of
the site is crawled and recorded once."""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from tests.fault.crawling import crawl_app
from tests.sites import REQUEST_LOG, Route, build_site, html, png_bytes


def _image_routes(count: int) -> dict[str, Route]:
    return {f"/ok/{n}.png": Route(png_bytes(n, (16, 16)), content_type="image/png")
            for n in range(count)}


def _ok_tags(count: int) -> str:
    return "".join(f'<img src="/ok/{n}.png">' for n in range(count))


async def _trickle(request: web.Request) -> web.StreamResponse:
    """Slowloris the other way round: headers at once, then a byte every 0.2 s, forever."""
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    await response.prepare(request)
    try:
        await response.write(b"\x89PNG\r\n\x1a\n")
        while True:
            await asyncio.sleep(0.2)
            await response.write(b"\x00")
    except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
        pass
    return response


async def _slow_headers(request: web.Request) -> web.StreamResponse:
    """Never answers; gives up once the client has hung up (so the server can shut down)."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.1)
    return web.Response(text="never")


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), before any answer."""
    sock = request.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()


def _resetting(times: int, then: Route | None):
    """A handler that resets the first `times` connections (all of them if `then` is None)."""
    seen = {"n": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen["n"] += 1
        if then is None or seen["n"] <= times:
            _reset(request)
            await asyncio.sleep(0.05)
            raise ConnectionResetError
        return web.Response(body=then.body, content_type=then.content_type)

    return handler


def _hostile_routes() -> dict[str, Route]:
    routes = _image_routes(4)
    # Slow: a body trickling a byte every 0.2 s, and a server that never answers.
    routes["/trickle.png"] = Route(handler=_trickle)
    routes["/silent.png"] = Route(handler=_slow_headers)
    # Resets: one and then the image; every time.
    good = Route(png_bytes(99, (16, 16)), content_type="image/png")
    routes["/flaky.png"] = Route(handler=_resetting(1, good))
    routes["/dead.png"] = Route(handler=_resetting(0, None))
    # Redirect loops: two pages, a self-redirect, two images, and a spiral of new URLs.
    routes["/a"] = Route(status=302, headers={"Location": "/b"})
    routes["/b"] = Route(status=302, headers={"Location": "/a"})
    routes["/self"] = Route(status=301, headers={"Location": "/self"})
    routes["/img/a.png"] = Route(status=302, headers={"Location": "/img/b.png"})
    routes["/img/b.png"] = Route(status=302, headers={"Location": "/img/a.png"})
    for n in range(40):
        routes[f"/spiral/{n}"] = Route(status=302, headers={"Location": f"/spiral/{n + 1}?x={n}"})
    # A page whose <base href> urljoin cannot parse.
    routes["/bad-base"] = Route(html('<base href="http://["><img src="x.png">'))
    routes["/"] = Route(html(
        _ok_tags(4) + '<img src="/trickle.png"><img src="/silent.png"><img src="/flaky.png">'
        '<img src="/dead.png"><img src="/img/a.png"><a href="/a">a</a><a href="/self">s</a>'
        '<a href="/spiral/0">sp</a><a href="/bad-base">bad</a>'))
    routes["/robots.txt"] = Route("", status=404)
    return routes


async def test_a_hostile_site_costs_its_caps_only_and_the_rest_is_recorded_once(settings):
    app = build_site(_hostile_routes())
    summary, events = await crawl_app(settings, app, fetch_timeout_s=1.0, max_retries=2,
                                      max_redirects=5)
    crawl = summary.crawl
    assert crawl.status == "finished", crawl.failure_reason
    assert set(events) == {f"/ok/{n}.png" for n in range(4)} | {"/flaky.png"}
    assert all(event.status == "hashed" for event in events.values())
    skipped = crawl.skipped_reasons
    assert skipped.get("timeout") == 2, skipped  # trickle, silent: their time cap each
    assert skipped.get("connection") == 1, skipped  # dead.png, after its retries
    assert skipped.get("too_many_redirects", 0) + skipped.get("duplicate", 0) >= 1, skipped
    # ... and x.png of the bad-base page, joined to the page's own URL as a browser does.
    assert crawl.images_found == 10 and skipped.get("http_404") == 1, skipped

    log = app[REQUEST_LOG]
    dead = [r for r in log if r.path == "/dead.png"]
    # The first try and max_retries more; aiohttp itself retries once a request whose reused
    # keep-alive connection was reset, so at most twice that.
    assert 3 <= len(dead) <= 6, len(dead)
    assert len([r for r in log if r.path.startswith("/spiral/")]) <= 6, "max_redirects + 1"
    assert len([r for r in log if r.path in ("/a", "/b", "/self")]) <= 4, \
        "a hop back to a seen URL ends the loop"
    assert len([r for r in log if r.path.startswith("/img/")]) <= 3
    assert any(r.path == "/bad-base" for r in log)
