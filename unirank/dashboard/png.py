"""PNG of a figure through a headless Chromium/Chrome, where one is installed (no network used)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import plotly.graph_objects as go

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# The flags a sandboxed, offline machine needs: no sandbox (root in containers), no background
# network (connections are refused offline), no first-run work.
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


def find_browser() -> str | None:
    wanted = os.environ.get("UNIRANK_BROWSER")
    if wanted:
        return wanted if shutil.which(wanted) or Path(wanted).is_file() else None
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def write_png(fig: go.Figure, dest: Path, width: int = 1200, height: int = 650) -> Path | None:
    """Render ``fig`` to ``dest``; None (nothing written) when no browser is available or it fails."""
    browser = find_browser()
    if browser is None:
        return None
    fig = go.Figure(fig).update_layout(width=width, height=height)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "figure.html"
        fig.write_html(page, include_plotlyjs=True, full_html=True, config={"staticPlot": True})
        shot = Path(tmp) / "figure.png"
        command = [browser, *HEADLESS_FLAGS, f"--user-data-dir={tmp}/profile", f"--screenshot={shot}",
                   f"--window-size={width + 20},{height + 20}", "--virtual-time-budget=5000", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=90, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if not shot.is_file() or shot.stat().st_size == 0:
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(shot), dest)
    return dest
