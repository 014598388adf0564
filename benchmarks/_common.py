"""Shared helpers for benchmark scripts: machine description and BENCHMARKS.md sections."""
from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# the datasets' folder (../shared/data beside the checkout; UNIRANK_SHARED_DATA where it lies elsewhere)
SHARED_DATA = Path(os.environ.get("UNIRANK_SHARED_DATA") or REPO / ".." / "shared" / "data").resolve()
BENCHMARKS_MD = REPO / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def command() -> str:
    return "python " + " ".join([str(Path(sys.argv[0]).relative_to(REPO)) if Path(sys.argv[0]).is_absolute()
                                 else sys.argv[0], *sys.argv[1:]])


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def write_section(name: str, body: str) -> str:
    """Replace (or append) the section between ``<!-- begin:name -->`` and ``<!-- end:name -->``;
    returns the block written."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# unirank benchmarks\n"
    block = (f"<!-- begin:{name} -->\n{body.rstrip()}\n\n_Measured {time.strftime('%Y-%m-%d')} on "
             f"{machine()}; command: `{command()}`._\n<!-- end:{name} -->")
    pattern = re.compile(rf"<!-- begin:{re.escape(name)} -->.*?<!-- end:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)
    return block
