"""Test websites served by aiohttp, with a server-side request log.

`build_site(routes)` returns a `web.Application` serving the given routes; every request
is appended to `app[REQUEST_LOG]` before it is answered. Routes can be changed after the
server started (they are looked up per request), so a site can link to its own port.
`discovery_site()` fills a site (and a second "CDN" site) with every image discovery form
the crawler supports, plus traps; it returns the exact set of image URLs a correct crawl
delivers. Images are tiny synthetic PNG/JPEG files made with Pillow.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image

from spinneret.demo.site import serve_on_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Route:
    body: bytes | str = b""
    content_type: str | None = "text/html"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # Answers given before the real one, e.g. [(429, {"Retry-After": "1"})]; consumed in order.
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    stream_bytes: int | None = None  # stream this many bytes (a huge file), body as prefix
    handler: Handler | None = None  # full control


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    path_qs: str
    host: str
    user_agent: str
    time: float  # time.monotonic()


REQUEST_LOG = web.AppKey("request_log", list)
ROUTES = web.AppKey("routes", dict)


def build_site(routes: dict[str, Route] | None = None) -> web.Application:
    """An app serving `routes` (keyed by path, or path with query string)."""
    app = web.Application()
    app[REQUEST_LOG] = []
    app[ROUTES] = routes if routes is not None else {}

    async def serve(request: web.Request) -> web.StreamResponse:
        app[REQUEST_LOG].append(LoggedRequest(
            request.method, request.path, request.path_qs, request.host,
            request.headers.get("User-Agent", ""), time.monotonic()))
        table: dict[str, Route] = app[ROUTES]
        route = table.get(request.path_qs) or table.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay_s:
            await asyncio.sleep(route.delay_s)
        if route.failures:
            status, headers = route.failures.pop(0)
            return web.Response(status=status, headers=headers, text="try later")
        if route.handler is not None:
            return await route.handler(request)
        body = route.body.encode() if isinstance(route.body, str) else route.body
        headers = dict(route.headers)
        if route.stream_bytes is not None:
            return await _stream(request, body, route)
        response = web.Response(status=route.status, body=body, headers=headers)
        if route.content_type is not None:
            response.headers["Content-Type"] = route.content_type
        else:
            response.headers.pop("Content-Type", None)
        return response

    app.router.add_route("*", "/{tail:.*}", serve)
    return app


async def _stream(request: web.Request, prefix: bytes, route: Route) -> web.StreamResponse:
    response = web.StreamResponse(status=route.status)
    if route.content_type:
        response.content_type = route.content_type
    await response.prepare(request)
    chunk = b"\0" * 65536
    sent = 0
    try:
        await response.write(prefix)
        while sent < (route.stream_bytes or 0):
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
        pass  # the client hung up, as it should past its cap
    return response


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port for the block; yields its base URL (no final /)."""
    runner, base_url = await serve_on_loopback(app)
    try:
        yield base_url.rstrip("/")
    finally:
        await runner.cleanup()


def requested(app: web.Application, path: str) -> int:
    """How often `path` (with query string if it has one) was requested."""
    return sum(1 for r in app[REQUEST_LOG] if r.path_qs == path or r.path == path)


# --- synthetic images ----------------------------------------------------------------

def _color(seed: int) -> tuple[int, int, int]:
    return ((seed * 97) % 256, (seed * 57 + 80) % 256, (seed * 31 + 160) % 256)


def png_bytes(seed: int = 0, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, _color(seed)).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, _color(seed)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def html(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


# --- calendar trap --------------------------------------------------------------------

def calendar_trap(path: str = "/calendar") -> Route:
    """/calendar?month=N links to month N+1, forever."""

    async def handler(request: web.Request) -> web.Response:
        month = int(request.query.get("month", "0"))
        body = html(f'<a href="{path}?month={month + 1}">next</a>'
                    f'<a href="{path}?month={month - 1}">previous</a>')
        return web.Response(text=body, content_type="text/html")

    return Route(handler=handler)


# --- a site with every discovery form --------------------------------------------------

@dataclass
class DiscoverySite:
    routes: dict[str, Route]
    cdn_routes: dict[str, Route]
    expected_images: set[str]  # absolute final URLs, plus "data:image/png;sha256=..."
    never_requested: set[str]  # paths on the site that must never be requested
    never_requested_cdn: set[str]  # paths on the CDN that must never be requested


def discovery_site(base: str, cdn: str, *, data_uri_png: bytes | None = None) -> DiscoverySite:
    """Routes for a site at `base` (e.g. "http://site.test:1234") using a CDN at `cdn`."""
    import base64
    import hashlib

    r: dict[str, Route] = {}
    c: dict[str, Route] = {}
    expected: set[str] = set()
    seed = iter(range(1, 10_000))

    def img(path: str, *, jpeg: bool = False, on_cdn: bool = False,
            content_type: str | None = None, expect: bool = True) -> str:
        data = jpeg_bytes(next(seed)) if jpeg else png_bytes(next(seed))
        ctype = content_type or ("image/jpeg" if jpeg else "image/png")
        (c if on_cdn else r)[path] = Route(body=data, content_type=ctype)
        if expect:
            expected.add((cdn if on_cdn else base) + path)
        return path

    data_png = data_uri_png or png_bytes(4242)
    data_uri = "data:image/png;base64," + base64.b64encode(data_png).decode()
    expected.add(f"data:image/png;sha256={hashlib.sha256(data_png).hexdigest()}")

    for path in ("/img/a.png", "/img/s1.png", "/img/pic.png", "/img/bg-inline.png",
                 "/img/bg-block.png", "/img/bg-css.png", "/img/bg-import.png", "/img/lazy.png",
                 "/img/lazy-1x.png", "/img/lazy-2x.png", "/img/deep.png", "/img/redirected.png",
                 "/img/sitemap-page.png", "/img/sitemap-image.png", "/img/cycle.png"):
        img(path)
    for path in ("/img/s2.jpg", "/img/pic-fallback.jpg", "/img/full.jpg"):
        img(path, jpeg=True)
    img("/download/photo", content_type="text/plain")  # an image served as text
    img("/img/noext", jpeg=True, content_type="application/octet-stream")
    img("/cdn/og.jpg", jpeg=True, on_cdn=True)
    img("/cdn/tw.png", on_cdn=True)
    img("/cdn/moved.png", on_cdn=True)
    img("/private/p.png", expect=False)
    c["/cdn/page.html"] = Route(body=html("out of scope"))
    c["/cdn/outside.html"] = Route(body=html('<img src="/cdn/never.png">'))
    img("/cdn/never.png", on_cdn=True, expect=False)
    c["/proxy"] = Route(body=png_bytes(1), content_type="image/png")

    proxy = f"{cdn}/proxy?url={base}/img/a.png".replace(":", "%3A").replace("/", "%2F")
    proxy = f"{cdn}/proxy?url=" + proxy.split("url=", 1)[1]
    r["/robots.txt"] = Route(
        body=f"User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap.xml\n",
        content_type="text/plain")
    r["/"] = Route(body=html(
        f"""
        <img src="/img/a.png" srcset="/img/s1.png 1x, /img/s2.jpg 2x">
        <picture><source srcset="/img/pic.png" type="image/png">
          <img src="/img/pic-fallback.jpg"></picture>
        <div style="background-image: url('/img/bg-inline.png')">x</div>
        <img src="{data_uri}">
        <img class="lazy" src="" data-src="/img/lazy.png"
             data-srcset="/img/lazy-1x.png 1x, /img/lazy-2x.png 2x">
        <a href="/img/full.jpg">full size</a>
        <a href="/download/photo">download</a>
        <a href="/fake.jpg">not really a jpeg</a>
        <img src="/img/noext">
        <img src="/private/p.png">
        <a href="/private/secret.html">secret</a>
        <a href="{cdn}/cdn/page.html">elsewhere</a>
        <a href="/go-in">redirect in scope</a>
        <a href="/go-out">redirect out of scope</a>
        <img src="/img/moved.png">
        <img src="{proxy}">
        <a href="https://images.example/searchbyimage?image_url={base}/img/a.png">search</a>
        <img src="/slow.png"><img src="/broken.png"><img src="/huge.png">
        <a href="/calendar?month=0">calendar</a>
        <a href="/dir/a/">directory</a>
        <a href="mailto:owner@example.org">mail</a>
        """,
        head=f"""
        <meta property="og:image" content="{cdn}/cdn/og.jpg">
        <meta name="twitter:image" content="{cdn}/cdn/tw.png">
        <link rel="stylesheet" href="/css/site.css">
        <style>.block {{ background: #fff url(/img/bg-block.png) no-repeat; }}</style>
        """))
    r["/css/site.css"] = Route(
        body='@import "more.css";\n'
             '@font-face { font-family: x; src: url(/fonts/x.woff2) format("woff2"); }\n'
             '.hero { background-image: url("../img/bg-css.png"); }\n',
        content_type="text/css")
    r["/css/more.css"] = Route(body=".more { background: url(/img/bg-import.png) }",
                               content_type="text/css")
    r["/fonts/x.woff2"] = Route(body=b"wOF2", content_type="font/woff2")
    r["/fake.jpg"] = Route(body=html("<p>I am a page</p>"), content_type="image/jpeg")
    r["/private/secret.html"] = Route(body=html("secret"))
    r["/go-in"] = Route(status=302, headers={"Location": "/dir/target.html"}, body=b"")
    r["/go-out"] = Route(status=302, headers={"Location": f"{cdn}/cdn/outside.html"}, body=b"")
    r["/img/moved.png"] = Route(status=301, headers={"Location": f"{cdn}/cdn/moved.png"})
    r["/dir/target.html"] = Route(body=html('<img src="/img/redirected.png">'))
    r["/dir/a/"] = Route(body=html('<a href="b/page.html">down</a><a href="/">home</a>'))
    r["/dir/a/b/page.html"] = Route(body=html(
        '<img src="../../../img/deep.png"><a href="../">up</a><a href="/">home</a>'
        '<a href="/dir/a/b/cycle.html">cycle</a>'))
    r["/dir/a/b/cycle.html"] = Route(body=html(
        '<a href="/dir/a/b/page.html">back</a><img src="/img/cycle.png">'))
    r["/slow.png"] = Route(body=png_bytes(7), content_type="image/png", delay_s=5.0)
    r["/broken.png"] = Route(status=500, body=b"oops", content_type="text/plain")
    r["/huge.png"] = Route(body=png_bytes(8)[:16], content_type="image/png",
                           stream_bytes=50 * 1024 * 1024)
    r["/calendar"] = calendar_trap("/calendar")
    r["/sitemap.xml"] = Route(body=(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        f'<url><loc>{base}/from-sitemap.html</loc>'
        f'<image:image><image:loc>{base}/img/sitemap-image.png</image:loc></image:image></url>'
        '</urlset>'), content_type="application/xml")
    r["/from-sitemap.html"] = Route(body=html('<img src="/img/sitemap-page.png">'))
    return DiscoverySite(
        routes=r, cdn_routes=c, expected_images=expected,
        never_requested={"/private/secret.html", "/private/p.png", "/fonts/x.woff2"},
        never_requested_cdn={"/cdn/page.html", "/cdn/outside.html", "/cdn/never.png",
                             "/proxy"},
    )
