"""The playground page in a real headless Chromium (Debian's, driven by playwright): load, upload, ask, look."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import skimage

from gitllm.play import ask, load_model
from gitllm.play.server import Playground
from test_play_helpers import image, one_torch_thread, running_server, save_tiny  # noqa: F401 (fixture)

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'gitllm[play]' for the browser test")
CHROMIUM = shutil.which("chromium")
CHELSEA = Path(skimage.__file__).parent / "data" / "chelsea.png"
SCREENSHOTS = os.environ.get("GITLLM_SCREENSHOTS")  # a folder to keep the screenshots in
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, object, object]]:
    model, processor = load_model(save_tiny(tmp_path_factory.mktemp("tiny")))
    with running_server(Playground(model, processor, model_name="tiny-playground")) as url:
        yield url, model, processor


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_page_uploads_asks_and_shows_visual_words(served, tmp_path) -> None:
    url, model, processor = served
    expected = ask(model, processor, [CHELSEA], ["w1 w2 w3"], max_new_tokens=8)[0]
    second = tmp_path / "second.png"
    image(3).save(second)
    two_frames = ask(model, processor, [[CHELSEA, second]], ["w1 w2 w3"], max_new_tokens=8)[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 820})
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("#model-name:has-text('tiny-playground')")

            # Bad input first: a text file as the image, then an empty question; the page shows the server's 4xx.
            page.set_input_files("#image", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                   "buffer": b"not an image"}])
            page.fill("#question", "w1")
            page.click("#ask-button")
            page.wait_for_selector("#ask-error:has-text('Error 400')")
            page.wait_for_selector("#status:not(.busy)")
            assert "not a recognised image" in page.inner_text("#ask-error")
            page.set_input_files("#image", str(CHELSEA))
            page.wait_for_selector("#preview[src^='data:image/png']")
            page.fill("#question", "  ")
            page.click("#ask-button")
            page.wait_for_selector("#ask-error:has-text('the question is empty')")

            assert "{" not in page.inner_text("#ask-error"), "a readable message, not a dict"
            preview = page.locator("#preview").bounding_box()
            assert preview["width"] >= 300, "a 451x300 photo is shown at a useful preview size"

            page.fill("#question", "w1 w2 w3")
            page.fill("#max-tokens", "8")
            slowed = model.language_model.register_forward_pre_hook(lambda *args: time.sleep(0.15))
            try:
                page.click("#ask-button")
                page.wait_for_selector("#status.busy:has-text('Generating')")
                page.wait_for_function("parseFloat(document.querySelector('#status').textContent.split('…')[1]) >= 0.3")
                page.screenshot(path=str(tmp_path / "generating.png"))
            finally:
                slowed.remove()
            page.wait_for_selector("#answer[data-done='1']")
            assert page.inner_text("#answer").strip() == expected and page.inner_text("#ask-error") == ""
            assert page.inner_text("#status").startswith("Answered in ")
            page.screenshot(path=str(tmp_path / "playground.png"))

            page.click("#tab-vw")
            page.click("#vw-button")
            page.wait_for_selector("#vw-image[src^='data:image/png']")
            assert "4x4 patches" in page.inner_text("#vw-table")
            assert page.locator("#vw-image").bounding_box()["width"] >= 600, "the overlay is drawn large enough"
            page.screenshot(path=str(tmp_path / "visual_words.png"), full_page=True)

            # Two images: read together as frames, answered as `ask` answers the same frames.
            page.click("#tab-ask")
            page.set_input_files("#image", [str(CHELSEA), str(second)])
            page.wait_for_selector("#frames img >> nth=1")
            assert page.inner_text("#image-info").startswith("2 images, read as frames in this order")
            page.click("#ask-button")
            page.wait_for_selector("#answer[data-done='1']")
            assert page.inner_text("#answer").strip() == two_frames and page.inner_text("#ask-error") == ""
            page.screenshot(path=str(tmp_path / "frames.png"))

            # Phone width: one column, nothing wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            widest = page.evaluate("Math.max(...[...document.querySelectorAll('body *')]"
                                   ".map((e) => e.getBoundingClientRect().right))")
            assert widest <= 390 and page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        finally:
            browser.close()
    for name in ("playground", "generating", "visual_words", "frames", "phone"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    if SCREENSHOTS:
        for name in ("playground", "generating", "visual_words", "frames", "phone"):
            shutil.copy(tmp_path / f"{name}.png", Path(SCREENSHOTS) / f"{name}.png")
