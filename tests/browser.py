"""Shared helpers of the browser tests: serve a folder over http, open a page in headless
chromium, wait for its media and check that every image and audio clip loads."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                    reason="chromium and chromedriver are not installed")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("img", "audio", "script") and a.get("src"):
            self.refs.append(a["src"])
        if tag == "a" and a.get("href"):
            self.refs.append(a["href"])


def page_refs(page: Path) -> list[str]:
    """The links (img/audio/script src, a href) of an HTML file, as written (URL-quoted)."""
    parser = _Refs()
    parser.feed(page.read_text())
    return parser.refs


def ref_file(folder: Path, ref: str) -> Path:
    """The file a relative link of a page in ``folder`` names."""
    return folder / unquote(ref)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser dropped a media request
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over http on a free local port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def driver(profile: Path):
    """A headless chromium driven by selenium (skips the test without selenium)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,2000", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


_WAIT_MEDIA = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
const auds = Array.from(document.querySelectorAll('audio'));
const imgReady = imgs.map(i => i.complete ? Promise.resolve() :
    new Promise(r => { i.onload = r; i.onerror = r; }));
const audReady = auds.map(a => new Promise(r => {
    a.addEventListener('loadedmetadata', r, {once: true});
    a.addEventListener('error', r, {once: true});
    a.preload = 'auto'; a.load();
}));
Promise.all(imgReady.concat(audReady)).then(() => done({
    images: imgs.map(i => [i.getAttribute('src'), i.naturalWidth]),
    audio: auds.map(a => [a.getAttribute('src'), a.readyState, a.duration, a.error ? a.error.code : 0]),
}));
"""


def _status(address: str) -> int:
    try:
        with urllib.request.urlopen(address, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def check_media(drv, base: str, folder: Path, page: str = "index.html") -> dict[str, dict[str, float]]:
    """Open ``page`` (served from ``folder`` at ``base``) and check that it shows.

    In the browser every image loads (``naturalWidth > 0``) and every audio element
    reports a duration (no error, ``readyState >= 1``, ``duration > 0``); every link the
    page names (the ``<a>`` ones too) is served (status 200). Returns ``{"images": {file: width},
    "audio": {file: seconds}}``, keyed by the file each element names (unquoted).
    """
    drv.set_script_timeout(60)
    drv.get(f"{base}/{page}")
    media = drv.execute_async_script(_WAIT_MEDIA)
    images = [(src, width) for src, width in media["images"] if not width > 0]
    audio = [m for m in media["audio"] if not (m[3] == 0 and m[1] >= 1 and m[2] > 0)]
    assert not (images or audio), (f"images that did not load: {images}; audio without a duration "
                                   f"(src, readyState, duration, error): {audio}")
    missing = [ref for ref in page_refs(folder / page) if _status(urljoin(f"{base}/{page}", ref)) != 200]
    assert not missing, f"links that are not served: {missing}"
    return {"images": {unquote(src): width for src, width in media["images"]},
            "audio": {unquote(src): duration for src, _, duration, _ in media["audio"]}}
