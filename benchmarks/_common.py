"""Shared helpers for benchmark scripts: machine description and BENCHMARKS.md sections."""
from __future__ import annotations

import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import torch

REPO = Path(__file__).resolve().parents[1]
# the datasets' folder (../shared/data beside the checkout; UNIRANK_SHARED_DATA where it lies elsewhere)
SHARED_DATA = Path(os.environ.get("UNIRANK_SHARED_DATA") or REPO / ".." / "shared" / "data").resolve()
BENCHMARKS_MD = REPO / "BENCHMARKS.md"


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes started afresh (spawn, not fork): a parent that has touched CUDA cannot fork
    workers that train on it (``UNIRANK_TRAIN_DEVICE=cuda``)."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def check_verdict_seeds(parser, seeds: int, first_seed: int = 0) -> list[int]:
    """The run's search seeds, ``first_seed`` … ``first_seed + seeds − 1`` (``--first-seed``,
    ``--seeds``). The verdict's margin is the std over search seeds: fewer than 2, or a negative first
    seed, is a parser error before any training."""
    if seeds < 2:
        parser.error(f"--seeds: expected at least 2 (the verdict's margin is the std over search seeds), got {seeds}")
    if first_seed < 0:
        parser.error(f"--first-seed: expected a seed ≥ 0, got {first_seed}")
    return list(range(first_seed, first_seed + seeds))


class Confirm(NamedTuple):
    """A run's ``search.confirm`` (``--confirm TOP SEEDS``, ``--confirm-per``)."""

    top: int
    seeds: int
    per: str = "trial"  # trial | architecture (search.confirm.per)

    @property
    def infix(self) -> str:
        """In the names of its sections and done files: ``_confirm3x2``, ``_confirm3x2arch``."""
        return f"_confirm{self.top}x{self.seeds}" + ("arch" if self.per == "architecture" else "")

    @property
    def flags(self) -> str:
        return f"--confirm {self.top} {self.seeds}" + (" --confirm-per architecture" if self.per == "architecture" else "")

    @property
    def override(self) -> str:
        return f"search.confirm={{top: {self.top}, seeds: {self.seeds}, per: {self.per}}}"


def add_confirm_args(parser, help: str) -> None:
    parser.add_argument("--confirm", nargs=2, type=int, metavar=("TOP", "SEEDS"), help=help)
    parser.add_argument("--confirm-per", choices=["trial", "architecture"], default="trial",
                        help="with --confirm: search.confirm.per (the TOP best trainings, or the best of the "
                             "TOP best architectures)")


def confirm_from(parser, args) -> Confirm | None:
    """``--confirm``/``--confirm-per`` as one value (None without ``--confirm``)."""
    if args.confirm_per != "trial" and not args.confirm:
        parser.error("--confirm-per: needs --confirm TOP SEEDS")
    return Confirm(*args.confirm, args.confirm_per) if args.confirm else None


def unirank_search(study: str | Path, sets: list[str], label: str) -> subprocess.CompletedProcess:
    """``unirank search STUDY --quiet --set …`` run from the repository; a failed search ends the
    benchmark with its last error lines."""
    ran = subprocess.run([sys.executable, "-m", "unirank", "search", str(study), "--quiet",
                          *[x for s in sets for x in ("--set", s)]], cwd=REPO, capture_output=True, text=True)
    if ran.returncode != 0:
        sys.exit(f"error: search {label}: {(ran.stderr or ran.stdout).strip()[-800:]}")
    return ran


def read_jobs(path: Path, flag: str, writer: str, need: set[str], known, values: str) -> list[dict]:
    """The entries of a job file another run of a script wrote (``writer``), each an object with the
    keys ``need`` that ``known(entry)`` accepts (``values`` says what it checks); anything else ends
    the script with one line naming the file and the first bad entry."""
    import json

    script = f"{Path(sys.argv[0]).stem}: {flag} {path}"
    try:
        jobs = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{script}: expected a JSON list written by {writer} ({e})")
    bad = next((i for i, j in enumerate(jobs if isinstance(jobs, list) else [None])
                if not isinstance(j, dict) or need - set(j) or not known(j)), None)
    if bad is not None:
        raise SystemExit(f"{script}: entry {bad} is not one {writer} writes (expected an object with "
                         f"{', '.join(sorted(need))}; {values})")
    return jobs


def prepare_caches(wanted) -> None:
    """Each distinct (data config, cache folder) of ``wanted`` prepared here, once, before worker
    processes read the caches at the same time."""
    from unirank.data.dataset import prepare_dataset

    seen = set()
    for data, cache in wanted:
        key = (str(cache), data.model_dump_json())
        if key not in seen:
            seen.add(key)
            prepare_dataset(data, Path(cache))


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


def paired_change(diffs: list[float]) -> str:
    """Paired differences (one per seed, below 0: better) → "mean ± std (k of n better)"."""
    return (f"{statistics.mean(diffs):+.4f} ± {statistics.stdev(diffs):.4f} "
            f"({sum(d < 0 for d in diffs)} of {len(diffs)} better)")


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


def test_metrics(model, dataset) -> dict:
    """The test split read once: test NE and the pooled test AUC averaged over objectives."""
    from unirank.train.fit import evaluate

    return test_scores(evaluate(model, dataset.splits["test"], dataset.features))


def test_scores(test) -> dict:
    """An EvalResult of the test split → test_ne, test_auc (the pooled AUC averaged over objectives)."""
    return {"test_ne": test.mean_ne, "test_auc": statistics.mean(v["pooled_auc"] for v in test.objectives.values())}


def train_and_test(cfg, arch, cache: Path, seed: int, **train) -> dict:
    """One training of ``arch`` on the study's prepared data (``cfg``: its data and train sections;
    ``train``: fields to change, the seed set) with early stopping on validation, then the test
    split read once → val_ne, test_ne, test_auc, seconds (of training) and mflops."""
    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.proxies.cost import measure_cost
    from unirank.train import fit, seed_everything

    dataset = load_prepared(prepare_dataset(cfg.data, cache))
    seed_everything(seed)
    model = build_model(arch, dataset.features)
    started = time.perf_counter()
    result = fit(model, dataset, cfg.train.model_copy(update={**train, "seed": seed}))
    seconds = time.perf_counter() - started
    return {"val_ne": result.val.mean_ne, "best_epoch": result.best_epoch, **test_metrics(model, dataset),
            "seconds": seconds,
            "mflops": measure_cost(arch, dataset.features, latency_batch=0).mflops}
