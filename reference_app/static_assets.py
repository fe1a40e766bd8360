"""Static assets generated at start-up, served with Cache-Control and a strong ETag.

The files are built in memory from code (a stylesheet, the dashboard script, a larger
"vendor" bundle, an SVG logo and a PNG hero image), so their bytes and ETags are the same on
every start. A request whose If-None-Match matches gets 304 Not Modified without a body.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_app.errors import NotFound

__all__ = ["ASSETS", "Asset", "etag_matches", "static_routes"]

CACHE_CONTROL = "public, max-age=86400"


@dataclass(frozen=True)
class Asset:
    path: str
    content_type: str
    body: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def _png(width: int, height: int) -> bytes:
    """A gradient PNG (RGB, 8-bit) with an accent band: the dashboard's hero image."""
    red = bytes(20 + 60 * x // width for x in range(width))
    blue = bytes(110 + 100 * x // width for x in range(width))
    band = bytearray(3 * width)
    for x in range(width):
        band[3 * x : 3 * x + 3] = (
            bytes((250, 190, 60)) if (x // 40) % 2 == 0 else bytes((red[x], 90, blue[x]))
        )
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        if height * 0.55 < y < height * 0.7:
            rows += band
            continue
        row = bytearray(3 * width)
        row[0::3] = red
        row[1::3] = bytes([40 + 80 * y // height]) * width
        row[2::3] = blue
        rows += row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(rows), 6)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


_CSS = """
:root { --bg: #0f172a; --card: #1e293b; --text: #e2e8f0; --accent: #fabe3c; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 12px; padding: 12px 24px; background: #111827; }
header img { width: 32px; height: 32px; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
.hero { width: 100%; aspect-ratio: 960 / 360; display: block; border-radius: 12px;
        background: #1e3a5f; }
.hero-slot { width: 100%; aspect-ratio: 960 / 360; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
         gap: 16px; margin: 24px 0; }
.card { background: var(--card); border-radius: 10px; padding: 16px; min-height: 96px; }
.card h2 { font-size: 14px; margin: 0 0 8px; color: #94a3b8; font-weight: 500; }
.card .value { font-size: 28px; font-weight: 700; }
.banner { background: var(--accent); color: #111; padding: 16px 24px; font-weight: 600; height: 160px; }
.hero-slot-unreserved { width: 100%; height: 0; }
table { width: 100%; border-collapse: collapse; }
td, th { text-align: left; padding: 8px; border-bottom: 1px solid #334155; font-size: 14px; }
canvas { width: 100%; height: 200px; background: var(--card); border-radius: 10px; }
"""

_APP_JS = """
(function () {
  'use strict';
  function drawChart(canvas, points) {
    var ctx = canvas.getContext('2d');
    var w = canvas.width = canvas.clientWidth, h = canvas.height = canvas.clientHeight;
    var max = Math.max.apply(null, points.concat([1]));
    ctx.strokeStyle = '#fabe3c'; ctx.lineWidth = 2; ctx.beginPath();
    points.forEach(function (v, i) {
      var x = i * w / Math.max(points.length - 1, 1), y = h - (v / max) * (h - 10) - 5;
      if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
    });
    ctx.stroke();
  }
  function loadOverview() {
    fetch('/api/dashboard/overview', {credentials: 'same-origin'}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      document.querySelectorAll('[data-metric]').forEach(function (el) {
        var key = el.getAttribute('data-metric');
        if (!(key in data)) { return; }
        var v = data[key];
        el.textContent = typeof v === 'object' ? JSON.stringify(v) : v;
      });
    }).catch(function () {});
  }
  // slow: the hero (the LCP element) arrives late into space reserved for it.
  // unstable: it arrives late without reserved space and a banner pushes the page down (CLS).
  function insertLateHero(delayMs, unstable) {
    setTimeout(function () {
      var slot = document.getElementById('hero-slot');
      if (unstable) {
        var banner = document.createElement('div');
        banner.className = 'banner';
        banner.textContent = 'Scheduled maintenance: Sunday 02:00-03:00 UTC';
        document.body.insertBefore(banner, document.body.firstChild);
      }
      var img = new Image(960, 360);
      img.className = 'hero'; img.alt = 'Studio Hub overview'; img.src = '/static/img/hero.png?late=1';
      img.setAttribute('elementtiming', 'hero');
      slot.replaceWith(img);
    }, delayMs);
  }
  document.addEventListener('DOMContentLoaded', function () {
    var canvas = document.getElementById('trend');
    if (canvas) { drawChart(canvas, JSON.parse(canvas.getAttribute('data-points'))); }
    var body = document.body;
    var variant = body.getAttribute('data-variant');
    if (variant === 'slow' || variant === 'unstable') {
      insertLateHero(parseInt(body.getAttribute('data-delay-ms'), 10) || 0, variant === 'unstable');
    }
    loadOverview();
  });
})();
"""


def _vendor_js() -> bytes:
    """A ~120 KB deterministic bundle standing in for third-party code."""
    lines = ["/* studiohub vendor bundle */", "var __studiohub_vendor = {};"]
    for i in range(1500):
        lines.append(
            f"__studiohub_vendor.f{i} = function (a, b) {{ var s = 0; for (var k = 0; k < (a|0) % 7; k++) "
            f"{{ s += (b|0) * {i % 97} + k; }} return s ^ {i * 2654435761 % 65521}; }};"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


_LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
<rect width="64" height="64" rx="14" fill="#fabe3c"/>
<path d="M16 44 L28 20 L36 34 L42 26 L50 44 Z" fill="#0f172a"/>
</svg>
"""


def _build() -> dict[str, Asset]:
    assets = [
        Asset("css/app.css", "text/css; charset=utf-8", _CSS.encode("utf-8")),
        Asset("js/app.js", "text/javascript; charset=utf-8", _APP_JS.encode("utf-8")),
        Asset("js/vendor.js", "text/javascript; charset=utf-8", _vendor_js()),
        Asset("img/logo.svg", "image/svg+xml", _LOGO_SVG.encode("utf-8")),
        Asset("img/hero.png", "image/png", _png(960, 360)),
    ]
    return {asset.path: asset for asset in assets}


ASSETS: dict[str, Asset] = _build()


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or etag in (tag.removeprefix("W/") for tag in candidates)


async def static_asset(request: Request) -> Response:
    asset = ASSETS.get(request.path_params["path"])
    if asset is None:
        raise NotFound(f"no static asset {request.path_params['path'][:100]!r}")
    headers = {"ETag": asset.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.content_type)


def static_routes() -> list[Route]:
    return [Route("/static/{path:path}", static_asset, methods=["GET"])]
