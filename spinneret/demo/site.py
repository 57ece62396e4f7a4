"""A benign demo website: synthetic images, some of them edited copies of images in the demo
hash list, embedded every way a real site does. Served from memory on loopback.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image

from spinneret.demo.edits import DEFAULT_EDITS, DIHEDRAL_EDITS
from spinneret.demo.images import generate

#: Seeds of the images in the shipped demo hash list.
LISTED_SEEDS = range(20)
UNLISTED_SEED_BASE = 100_000
IMAGES_PER_PAGE = 8
PLAIN_EDITS = tuple(name for name in DEFAULT_EDITS if name not in DIHEDRAL_EDITS)

_CONTENT_TYPES = {
    "PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
}


@dataclass(frozen=True)
class DemoImage:
    path: str
    seed: int
    edit: str | None  # None = an unlisted original
    data: bytes = field(repr=False)
    content_type: str

    @property
    def listed(self) -> bool:
        return self.edit is not None


@dataclass
class DemoSite:
    images: list[DemoImage]
    removed: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    @property
    def listed(self) -> list[DemoImage]:
        return [image for image in self.images if image.listed]

    @property
    def unlisted(self) -> list[DemoImage]:
        return [image for image in self.images if not image.listed]

    def remove(self, path: str) -> None:
        """The owner takes an image down: it answers 404 from now on."""
        self.removed.add(path)

    def pages(self) -> list[list[DemoImage]]:
        return [
            self.images[start : start + IMAGES_PER_PAGE]
            for start in range(0, len(self.images), IMAGES_PER_PAGE)
        ]

    def app(self, extra_index_html: str = "") -> web.Application:
        """The site as an aiohttp app; callers may add routes (linked from `extra_index_html`)."""
        by_path = {image.path: image for image in self.images}
        pages = self.pages()

        @web.middleware
        async def log_requests(request: web.Request, handler):
            self.requests.append(request.path_qs)
            return await handler(request)

        async def index(_: web.Request) -> web.Response:
            links = "".join(
                f'<li><a href="/gallery/{n}.html">Gallery {n}</a></li>' for n in range(len(pages))
            )
            return _html(
                "Demo gallery", f"<h1>Synthetic demo gallery</h1><ul>{links}</ul>{extra_index_html}"
            )

        async def gallery(request: web.Request) -> web.Response:
            number = int(request.match_info["number"])
            if not 0 <= number < len(pages):
                raise web.HTTPNotFound()
            body = "".join(_embed(i, image) for i, image in enumerate(pages[number]))
            nav = f'<a href="/">home</a> <a href="/gallery/{(number + 1) % len(pages)}.html">next</a>'
            return _html(f"Gallery {number}", f"<h1>Gallery {number}</h1>{body}<p>{nav}</p>")

        async def image(request: web.Request) -> web.Response:
            path = request.path
            if path in self.removed or path not in by_path:
                raise web.HTTPNotFound()
            item = by_path[path]
            return web.Response(body=item.data, content_type=item.content_type)

        async def robots(_: web.Request) -> web.Response:
            return web.Response(text="User-agent: *\nDisallow: /private/\n")

        app = web.Application(middlewares=[log_requests])
        app.router.add_get("/", index)
        app.router.add_get("/gallery/{number:\\d+}.html", gallery)
        app.router.add_get("/robots.txt", robots)
        app.router.add_get("/img/{name}", image)
        return app


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port; returns the runner (to clean up) and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # aiohttp has no public accessor
    return runner, f"http://127.0.0.1:{port}/"


def _html(title: str, body: str) -> web.Response:
    page = f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
    return web.Response(text=page, content_type="text/html")


def _embed(position: int, image: DemoImage) -> str:
    """Vary how images are embedded, as real pages do."""
    src = html.escape(image.path)
    forms = (
        f'<img src="{src}" alt="photo">',
        f'<img srcset="{src} 1x" alt="photo">',
        f'<picture><source srcset="{src}"><img alt="photo"></picture>',
        f'<div style="background-image: url(\'{src}\')">&nbsp;</div>',
        f'<img data-src="{src}" class="lazy" alt="photo">',
        f'<a href="{src}">full size</a>',
    )
    return f"<figure>{forms[position % len(forms)]}</figure>"


def _encode(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **({"quality": 88} if format == "JPEG" else {}))
    return buffer.getvalue()


def _sniff_type(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as probe:
        return _CONTENT_TYPES.get(probe.format or "", "application/octet-stream")


def build_demo_site(
    *,
    listed_seeds=LISTED_SEEDS,
    unlisted: int = 60,
    edits: tuple[str, ...] = PLAIN_EDITS,
    unlisted_size: tuple[int, int] = (480, 360),
) -> DemoSite:
    """Listed images appear once each as an edited copy (edits taken in turn); unlisted
    images are originals of other seeds, as JPEG. Listed and unlisted are interleaved."""
    listed = []
    for n, seed in enumerate(listed_seeds):
        edit = edits[n % len(edits)]
        data = DEFAULT_EDITS[edit](generate(seed))
        listed.append(DemoImage(f"/img/listed-{seed}-{edit}", seed, edit, data, _sniff_type(data)))
    others = []
    for n in range(unlisted):
        seed = UNLISTED_SEED_BASE + n
        data = _encode(generate(seed, unlisted_size), "JPEG")
        others.append(DemoImage(f"/img/photo-{seed}.jpg", seed, None, data, "image/jpeg"))
    mixed: list[DemoImage] = []
    step = max(1, len(others) // max(1, len(listed)))
    for n, item in enumerate(listed):
        mixed.extend(others[n * step : (n + 1) * step])
        mixed.append(item)
    mixed.extend(others[len(listed) * step :])
    return DemoSite(mixed)
