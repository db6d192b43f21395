"""End to end in a real browser: Debian's chromium driven by Playwright.

Loads the viewer, opens the built-in Indian Pines scene, classifies it with a tiny
model, clicks a pixel, and checks that the spectrum plot, the pixel's class and the
legend appear. A screenshot is saved to ``outputs/web/screenshot.png``.

Skipped (with the reason) only when no chromium executable can be found; install it
with ``apt-get install -y chromium`` (``make test`` does).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "outputs" / "web" / "screenshot.png"
TIMEOUT_MS = 120_000


def _chromium() -> str | None:
    for candidate in (os.environ.get("HSI_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not found at /usr/bin/chromium (or $HSI_CHROMIUM); install it with `apt-get install -y chromium`",
)


def test_classify_click_and_screenshot(viewer_server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(viewer_server, wait_until="load", timeout=TIMEOUT_MS)
            page.locator("#hsi-open").click()
            scene_img = page.locator("#hsi-map img")
            scene_img.wait_for()
            sync_api.expect(page.locator("#hsi-info")).to_contain_text("145 × 145 px")

            # default model: the shipped models/indian_pines_ssfcn_small, else the fixture's runs/tiny
            sync_api.expect(page.locator("#hsi-model input")).to_have_value(
                __import__("re").compile(r"^(models|runs)/"), timeout=TIMEOUT_MS)
            page.locator("#hsi-classify").click()
            items = page.locator("#hsi-legend .hsi-legend-item")
            items.first.wait_for()
            assert items.count() >= 2
            sync_api.expect(page.locator("#hsi-legend")).to_contain_text("ha)")  # nominal 20 m pixels

            box = scene_img.bounding_box()
            assert box is not None and box["width"] > 100
            # the image is 435 px for 145 scene px (3x zoom): click the centre of scene pixel (87, 43)
            px = box["width"] / 145.0
            scene_img.click(position={"x": (43 + 0.5) * px, "y": (87 + 0.5) * px})
            page.locator("#hsi-spectrum img").wait_for()
            sync_api.expect(page.locator("#hsi-pixel")).to_contain_text("Predicted")
            sync_api.expect(page.locator("#hsi-pixel")).to_contain_text("row 87, col 43")
            assert page.locator("text=Traceback").count() == 0

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.get_by_role("tab", name="Detect").click()  # RX anomaly heat-map in the Detect tab
            page.locator("#hsi-detect").click()
            page.locator("#hsi-dt-heat img").wait_for()
            sync_api.expect(page.locator("#hsi-dt-status")).to_contain_text("rx:")
        finally:
            browser.close()
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 10_000
