"""`move serve` in headless chromium: transfer an uploaded note, sound a point of the latent pad,
render a drawn path; the screenshot of the page is docs/serve.png (with MOVE_SERVE_SCREENSHOT)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from browser import driver, needs_chromium
from move.demo import example_notes

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

_MEDIA = """
const done = arguments[arguments.length - 1];
const sel = arguments[0];
const imgs = Array.from(document.querySelectorAll(sel + ' img'));
const auds = Array.from(document.querySelectorAll(sel + ' audio'));
const ready = imgs.map(i => i.complete ? Promise.resolve() : new Promise(r => { i.onload = r; i.onerror = r; }))
  .concat(auds.map(a => a.readyState >= 1 ? Promise.resolve() : new Promise(r => {
    a.addEventListener('loadedmetadata', r, {once: true}); a.addEventListener('error', r, {once: true}); })));
Promise.all(ready).then(() => done({images: imgs.map(i => i.naturalWidth),
                                    audio: auds.map(a => [a.duration, a.error ? a.error.code : 0])}));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    import uvicorn

    from move.serve.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(workers=2), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.1)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _wait(drv, condition, seconds: float = 120.0, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, seconds, poll_frequency=0.2).until(lambda d: condition(d), message=what)


@pytest.mark.slow
@needs_chromium
def test_the_page_transfers_and_plays_the_pad(server_url, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    note = tmp_path / example_notes()[2].name  # Hn-ord-C4-f.flac
    shutil.copy(example_notes()[2], note)
    drv = driver(tmp_path / "profile")
    try:
        drv.set_script_timeout(60)
        drv.get(server_url + "/")
        _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#targets input")) == 12, 30, "model card")
        assert "instruments (12)" in drv.find_element(By.ID, "model-card").text
        drv.find_element(By.ID, "file").send_keys(str(note))
        for box in drv.find_elements(By.CSS_SELECTOR, "#targets input"):
            if box.get_attribute("value") in ("Flute", "Violin") and not box.is_selected():
                box.click()
            elif box.get_attribute("value") not in ("Flute", "Violin") and box.is_selected():
                box.click()
        drv.find_element(By.ID, "transfer-btn").click()
        _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .result")) == 2, 180, "results")
        media = drv.execute_async_script(_MEDIA, "#results")
        assert len(media["images"]) == 2 and all(w > 0 for w in media["images"]), media
        assert all(err == 0 and dur == pytest.approx(4.0, abs=0.05) for dur, err in media["audio"]), media
        targets = [r.get_attribute("data-target") for r in drv.find_elements(By.CSS_SELECTOR, "#results .result")]
        assert targets == ["Flute", "Violin"]

        # the pad: the scatter is drawn, a click sounds the decoded point
        _wait(drv, lambda d: "slices of the example notes" in d.find_element(By.ID, "scatter-source").text, 60,
              "latent scatter")
        pad = drv.find_element(By.ID, "pad")
        ActionChains(drv).move_to_element_with_offset(pad, 60, -80).click().perform()
        _wait(drv, lambda d: d.execute_script(
            "const a = document.getElementById('pad-audio'); return a.src && a.readyState >= 1 && a.duration > 0;"),
            60, "the pad's sound")
        assert drv.execute_script("return document.getElementById('pad-audio').duration") == pytest.approx(1.0, abs=0.02)
        assert drv.find_element(By.ID, "pad-point").text.startswith("(")
        assert drv.find_element(By.ID, "error").get_attribute("hidden") is not None  # no error shown

        # a path drawn on the pad, rendered and heard under another instrument too
        chain = ActionChains(drv).move_to_element_with_offset(pad, -120, 60).click_and_hold()
        for _ in range(6):
            chain = chain.move_by_offset(30, -20)
        chain.release().perform()
        drv.execute_script("document.getElementById('transfer-to').value = 'Violin';"
                           "document.getElementById('path-duration').value = '2';")
        drv.find_element(By.ID, "render-path").click()
        _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#path-results .result")) == 2, 180, "path")
        media = drv.execute_async_script(_MEDIA, "#path-results")
        assert len(media["images"]) == 2 and all(w > 0 for w in media["images"]), media
        assert all(err == 0 and dur == pytest.approx(2.0, abs=0.05) for dur, err in media["audio"]), media

        shot = os.environ.get("MOVE_SERVE_SCREENSHOT")
        if shot:
            drv.save_screenshot(shot)
    finally:
        drv.quit()
