"""Sources over HTTP (a real loopback server) and from the mirror, always checked."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from twin.core.errors import SourceError
from twin.core.imports.fetch import backoff_s, resolve, resolve_all
from twin.core.imports.manifest import Manifest, SourceEntry
from twin.platform.settings import Settings

PAYLOAD = b"id,name\n1,\xd0\x9b\xd0\xbe\xd0\xb7\xd0\xb5\xd0\xbd\xd0\xb5\xd1\x86\n" * 50


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}
    failures_left: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.failures_left.get(self.path, 0) > 0:
            self.failures_left[self.path] -= 1
            self.send_error(503)
            return
        refused = {"/forbidden.csv": 403, "/withdrawn.csv": 410, "/busy.csv": 429}.get(self.path)
        if refused is not None:
            self.send_response(refused)
            if refused == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = {"/good.csv": PAYLOAD, "/tampered.csv": PAYLOAD[:-1] + b"!"}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    _Handler.hits = {}
    _Handler.failures_left = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def entry(url: str, **overrides: object) -> SourceEntry:
    values: dict[str, object] = {
        "id": "test-names",
        "title": "t",
        "dataset": "d",
        "url": url,
        "mirror": "d/names.csv",
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
        "size": len(PAYLOAD),
        "media_type": "text/csv",
        "licence": "CC0",
        "attribution": "us",
        "source_date": "2026-11-27",
        "loader": "none",
        **overrides,
    }
    return SourceEntry.model_validate(values)


@pytest.fixture
def download_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", sources_dir=None, fetch_retries=2, fetch_backoff=0.01)


def test_a_download_is_verified_cached_and_reused(origin: str, download_settings: Settings) -> None:
    path = resolve(entry(f"{origin}/good.csv"), download_settings)
    assert path.read_bytes() == PAYLOAD
    assert path.is_relative_to(download_settings.cache_dir)
    assert resolve(entry(f"{origin}/good.csv"), download_settings) == path
    assert _Handler.hits == {"/good.csv": 1}


def test_transient_errors_are_retried(origin: str, download_settings: Settings) -> None:
    _Handler.failures_left["/good.csv"] = 2
    assert resolve(entry(f"{origin}/good.csv"), download_settings).read_bytes() == PAYLOAD
    assert _Handler.hits["/good.csv"] == 3


def test_a_tampered_download_is_rejected_and_not_kept(origin: str, download_settings: Settings) -> None:
    with pytest.raises(SourceError, match="fails its checksum"):
        resolve(entry(f"{origin}/tampered.csv"), download_settings)
    assert not list(download_settings.cache_dir.rglob("*.csv*"))


def test_a_missing_url_is_a_clear_error(origin: str, download_settings: Settings) -> None:
    with pytest.raises(SourceError, match="404"):
        resolve(entry(f"{origin}/gone.csv"), download_settings)


def test_an_unreachable_host_fails_after_the_retries(download_settings: Settings) -> None:
    fast = download_settings.model_copy(update={"fetch_retries": 0})
    with pytest.raises(SourceError, match=r"could not be downloaded.*1 attempt:"):
        resolve(entry("http://127.0.0.1:9/nothing.csv"), fast)


@pytest.mark.parametrize(("path", "status"), [("/forbidden.csv", 403), ("/withdrawn.csv", 410)])
def test_a_refusal_is_not_retried(origin: str, download_settings: Settings, path: str, status: int) -> None:
    with pytest.raises(SourceError, match=rf"after 1 attempt: .*{status}"):
        resolve(entry(f"{origin}{path}"), download_settings)
    assert _Handler.hits[path] == 1


def test_too_many_requests_and_server_errors_are_retried(origin: str, download_settings: Settings) -> None:
    with pytest.raises(SourceError, match=r"after 3 attempts: .*429"):
        resolve(entry(f"{origin}/busy.csv"), download_settings)
    assert _Handler.hits["/busy.csv"] == 3  # fetch_retries = 2


def test_the_backoff_is_jittered_and_bounded() -> None:
    waits = [backoff_s(3, 1.0) for _ in range(200)]
    assert all(0 <= w <= 4.0 for w in waits)  # full jitter under 1 × 2²
    assert len(set(waits)) > 150  # spread, not one value for every client
    assert max(backoff_s(20, 1.0) for _ in range(50)) <= 30.0
    assert backoff_s(1, 1.0, retry_after="7") == 7.0
    assert backoff_s(1, 1.0, retry_after="3600") == 30.0


def test_mirror_only_sources_need_the_mirror(download_settings: Settings) -> None:
    with pytest.raises(SourceError, match="TWIN_SOURCES_DIR"):
        resolve(entry("", mirror_only=True), download_settings)


def test_every_source_in_the_manifest_matches_the_mirror(settings: Settings, manifest: Manifest) -> None:
    """The whole manifest (what `twin fetch` checks): every file present, every checksum right."""
    paths = resolve_all(manifest.sources, settings)
    assert len(paths) == len(manifest.sources) >= 300
    assert {e.loader for e in manifest.sources} >= {"lozenets", "gtfs", "air", "buildings", "streets"}
    for source in manifest.sources:
        assert source.synthetic is False, "no synthetic file may be listed as a public source"
        assert source.licence
        assert source.attribution
