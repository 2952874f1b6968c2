"""The web map: one HTML page (/map) drawing every collection's vector tiles with MapLibre GL JS.

MapLibre comes from npm (package.json, installed into node_modules/ by scripts/run.sh and test.sh) and is
served by the app itself under /vendor/maplibre, next to the page's own script under /static: the page
loads nothing from another origin, and its Content-Security-Policy says so to the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = ROOT / "app" / "static"
VENDOR_DIR = ROOT / "node_modules" / "maplibre-gl" / "dist"
VENDOR_PATH = "/vendor/maplibre"

router = APIRouter(tags=["Map"])

# Same-origin only. MapLibre runs its worker from a blob: URL and decodes images into blob:/data: URLs.
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Map · Lozenets Twin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{VENDOR_PATH}/maplibre-gl.css">
<link rel="stylesheet" href="/static/map.css">
</head>
<body>
<aside id="panel" aria-label="Layers">
  <header>
    <a href="/"><b>Lozenets Twin</b></a>
    <a href="/collections">Collections</a>
    <a href="/docs">API</a>
  </header>
  <h1>Map</h1>
  <p id="status" role="status">Loading the collections…</p>
  <div class="controls">
    <label><input type="checkbox" id="three-d"> Buildings in 3D</label>
    <label>Scenario beside the baseline
      <select id="scenario-choice"><option value="">none</option></select></label>
  </div>
  <ul id="legend"></ul>
  <p class="note">Derived layers are computed on first view, with their default parameters.</p>
</aside>
<main id="map" aria-label="Map of Lozenets"></main>
<script src="{VENDOR_PATH}/maplibre-gl.js"></script>
<script src="/static/map.js"></script>
</body>
</html>
"""

MISSING = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Map unavailable · Lozenets Twin</title></head>
<body style="font:15px/1.45 system-ui,sans-serif;margin:2em;max-width:44em">
<h1>The map is not installed</h1>
<p>The map page needs MapLibre GL JS from npm, which is missing from <code>node_modules/</code> in the
project folder (or was installed after the server started).</p>
<p>Install it with <code>./scripts/run.sh</code> (which runs <code>npm ci</code>), or by hand with
<code>npm ci</code> in the project folder, then restart the server.</p>
<p>The data itself is available: see <a href="/collections">the collections</a>.</p>
</body>
</html>
"""


def vendor_available() -> bool:
    return (VENDOR_DIR / "maplibre-gl.js").is_file() and (VENDOR_DIR / "maplibre-gl.css").is_file()


def _mounted(app: FastAPI) -> bool:
    paths = {getattr(route, "path", None) for route in app.routes}
    return VENDOR_PATH in paths and "/static" in paths


@router.get("/map", include_in_schema=False)
async def map_page(request: Request) -> HTMLResponse:
    """The web map of every collection, or a page saying how to install MapLibre when it is missing."""
    if not (vendor_available() and _mounted(request.app)):
        return HTMLResponse(MISSING, status_code=503, headers={"Cache-Control": "no-store"})
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


def mount_static(app: FastAPI) -> None:
    """Serve app/static/ under /static and MapLibre's dist/ under /vendor/maplibre (when installed)."""
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if vendor_available():
        app.mount(VENDOR_PATH, StaticFiles(directory=VENDOR_DIR), name="vendor-maplibre")
