"""The live dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright):
front points and preset markers, a click opens the trial's ArchSpec, the study is not written."""
import hashlib
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

from unirank.dashboard.png import HEADLESS_FLAGS, find_browser
from unirank.space.arch import ArchSpec
from tests.conftest import REPO, run_cli

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome on this machine "
                                "(`make test` installs Debian's chromium when it runs as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(finished_30):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "unirank", "dashboard", str(finished_30), "--port",
                                str(port), "--refresh", "2"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_dashboard_front_presets_and_click_to_architecture(dashboard, finished_30, tmp_path):
    db = finished_30 / "study.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    study = optuna.load_study(study_name="dash", storage=f"sqlite:///{db}")
    complete = {t.number: t for t in study.trials if t.state.name == "COMPLETE"}

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, args=list(HEADLESS_FLAGS))
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(dashboard)
        page.wait_for_selector("#pareto .scatterlayer .trace .point", timeout=60_000)
        page.wait_for_timeout(1500)  # let the first refresh settle before clicking
        traces = page.evaluate("() => document.querySelector('#pareto .js-plotly-plot').data"
                               ".map(t => ({name: t.name, n: t.x.length, text: t.text || null}))")
        by_name = {t["name"]: t for t in traces}
        assert by_name["searched trials"]["n"] + by_name["presets"]["n"] == len(complete) == 30
        assert sorted(by_name["presets"]["text"]) == ["dcnv2", "mmoe", "shared_bottom_mlp"]
        assert page.locator("#pareto .scatterlayer .trace").nth(2).locator(".point").count() == 3
        front = page.locator("#pareto .scatterlayer .trace").nth(1).locator(".point").count()
        assert front == by_name["Pareto front"]["n"] >= 1

        # Click the searched point farthest from any other marker (plotly reports the point under
        # the hovering mouse, so an overlapped one would open its neighbour).
        numbers = page.evaluate("() => document.querySelector('#pareto .js-plotly-plot').data[0].customdata")
        boxes = [b for b in (el.bounding_box() for el in page.locator("#pareto .scatterlayer .point").all()) if b]
        centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in boxes]
        searched = centres[: len(numbers)]  # trace 0 is drawn first

        def room(c):
            return min(((c[0] - o[0]) ** 2 + (c[1] - o[1]) ** 2 for o in centres if o != c), default=1e9)

        index = max(range(len(searched)), key=lambda i: room(searched[i]))
        number, (cx, cy) = numbers[index], searched[index]
        page.mouse.move(cx - 4, cy - 4)
        page.mouse.move(cx, cy)
        page.wait_for_timeout(300)
        page.mouse.click(cx, cy)
        page.wait_for_selector("#arch-sections", timeout=20_000)
        panel = page.inner_text("#arch-panel")
        arch = ArchSpec.from_dict(complete[number].user_attrs["arch"])
        assert page.inner_text("#arch-title").strip() == f"trial {number}"
        assert arch.summary() in panel
        sections = page.inner_text("#arch-sections")
        assert f"embedding dim\t{arch.embedding.dim}" in sections
        assert f"tower width\t{arch.sharing.tower_width}" in sections
        assert f"unirank export {finished_30} --trial {number}" in panel

        page.click("#add-compare")
        page.wait_for_selector("#compare-table-inner", timeout=20_000)
        assert f"trial {number}" in page.inner_text("#compare-table-inner")
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        assert not errors, errors
        browser.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "the dashboard wrote to the study"


def test_non_loopback_bind_needs_an_explicit_flag(finished_30):
    result = run_cli("dashboard", str(finished_30), "--host", "0.0.0.0")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --host 0.0.0.0 is not a loopback address; add --allow-remote "
                                     "to serve the study to other machines")
