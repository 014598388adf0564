"""Screenshots of the live dashboard for the README: `python docs/screenshots.py runs/quickstart`.

Starts `unirank dashboard` on the folder, opens it in headless Chromium (Playwright), clicks the
front's lowest-NE searched point and adds it to the comparison, and saves docs/dashboard*.png.
"""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from unirank.dashboard.png import HEADLESS_FLAGS, find_browser

DOCS = Path(__file__).resolve().parent


def main(out_dir: str, port: int = 8071) -> None:
    server = subprocess.Popen([sys.executable, "-m", "unirank", "dashboard", out_dir, "--port", str(port)])
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_browser(), args=list(HEADLESS_FLAGS))
            page = browser.new_page(viewport={"width": 1300, "height": 1250}, device_scale_factor=1)
            page.goto(url)
            page.wait_for_selector("#pareto .scatterlayer .trace .point", timeout=60_000)
            page.wait_for_timeout(2000)
            for trace, which in ((2, 0), (1, -1)):  # a preset, then the front's lowest-NE point
                points = page.locator("#pareto .scatterlayer .trace").nth(trace).locator(".point")
                box = points.nth(which if which >= 0 else points.count() - 1).bounding_box()
                cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                page.mouse.move(cx - 4, cy - 4)
                page.mouse.move(cx, cy)
                page.wait_for_timeout(300)
                page.mouse.click(cx, cy)
                page.wait_for_selector("#arch-sections", timeout=20_000)
                page.wait_for_timeout(500)
                page.click("#add-compare")
                page.wait_for_timeout(1000)
            page.evaluate("() => window.scrollTo(0, 0)")
            page.wait_for_timeout(500)
            page.screenshot(path=str(DOCS / "dashboard.png"), full_page=False)
            page.screenshot(path=str(DOCS / "dashboard-full.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait()
    print(f"written: {DOCS / 'dashboard.png'}, {DOCS / 'dashboard-full.png'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/quickstart")
