from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from unirank.config import SyntheticDataConfig, TrainConfig
from unirank.data.dataset import build_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"

needs_census = pytest.mark.skipif(
    not CENSUS.is_file(), reason=f"real data not present: {CENSUS} (see ../shared/data/README.md)"
)

MOVIELENS = SHARED_DATA / "movielens_100k"
needs_movielens = pytest.mark.skipif(
    not (MOVIELENS / "ml-100k.inter").is_file(),
    reason=f"real data not present: {MOVIELENS} (see ../shared/data/README.md)",
)

TINY_DATA = SyntheticDataConfig(source="synthetic", num_rows=6000, vocab_size=100, seed=1)
TINY_TRAIN = TrainConfig(batch_size=256, lr=3e-3, max_epochs=3, patience=2)


@pytest.fixture(scope="session")
def tiny_dataset():
    return build_dataset(TINY_DATA)


TINY_SEQUENCE_DATA = TINY_DATA.model_copy(update={"history_length": 8})


@pytest.fixture(scope="session")
def tiny_sequence_dataset():
    """The tiny synthetic data with a behaviour sequence (8 events, sharing c1's ids)."""
    return build_dataset(TINY_SEQUENCE_DATA)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The real `unirank` command in a subprocess (as a user runs it)."""
    return subprocess.run([sys.executable, "-m", "unirank", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout)


def unirank_here(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The same `unirank` command run in this process (its exit code, stdout and stderr as
    ``run_cli`` returns them), its searches on one local Ray runtime the whole test session shares
    — started here on first use as a search starts it (``unirank.search.runner.start_ray``), so a
    search finds it running and leaves it so. For the tests of what a command does;
    what a process shows when it starts, fails or dies, and whatever its Ray workers must read from
    the environment, stays with ``run_cli``."""
    import ray

    from unirank.cli import main
    from unirank.search.runner import start_ray

    if args[0] == "search" and "--address" not in args and not ray.is_initialized():
        start_ray(None)
    stdout, stderr, here = io.StringIO(), io.StringIO(), Path.cwd()
    os.chdir(cwd or REPO)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(list(args))
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["unirank", *args], code, stdout.getvalue(), stderr.getvalue())


def forget_ray() -> None:
    """Stop the shared runtime (before a test starts a Ray cluster of its own, or ends Ray
    processes); the next ``unirank_here`` search starts one again."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _shared_ray_stops_at_the_end():
    yield
    forget_ray()


def search_fresh(root: Path, study_text: str, *args: str) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Write ``study_text`` (with ``{out}`` for the output folder) under ``root`` and run
    `unirank search` on it (``unirank_here``); returns (config, out, result) after asserting it succeeded."""
    out = root / "out"
    config = root / "study.yaml"
    config.write_text(study_text.format(out=out))
    result = unirank_here("search", str(config), "--quiet", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return config, out, result
