"""How fast a Criteo-shaped Parquet directory is prepared, and at what peak memory.

    python benchmarks/prepare_speed.py [--rows 2000000] [--files 8] [--repeats 3]

Writes a Criteo-shaped directory (13 dense float columns, 26 categorical string columns with
Zipf-distributed ids over 10^5 values each, a 0/1 label; ``--files`` Parquet files) under
``runs/benchmarks/prepare_speed/``, then times ``unirank.data.dataset.prepare_dataset`` on it in a
fresh process per repeat (random 80/10/10 split, vocabularies and normalisation fitted on the
training rows, tensors written to the cache): rows per second (median of ``--repeats``) and the
process's peak RSS against the bytes of the prepared arrays. Issue 20's goal for its streaming
preparation is ≥ 1 M rows/s at 20 M rows on 2 cores with peak memory ≤ 1.5 × the prepared arrays;
this measures where the current reader stands.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402

DENSE = [f"I{i}" for i in range(1, 14)]
SPARSE = [f"C{i}" for i in range(1, 27)]


def write_criteo(folder: Path, rows: int, files: int, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = -(-rows // files)
    for f in range(files):
        n = min(per_file, rows - f * per_file)
        columns = {name: rng.lognormal(1.0, 1.5, n).astype("float32") for name in DENSE}
        for name in SPARSE:
            ids = np.minimum(rng.zipf(1.3, n), 100_000)
            columns[name] = pa.array(np.char.add(f"{name}_", ids.astype(str)))
        columns["label"] = (rng.random(n) < 0.25).astype("int8")
        pq.write_table(pa.table(columns), folder / f"part-{f:03d}.parquet")


def _child(folder: str, cache: str) -> None:
    """One timed preparation in this (fresh) process; prints JSON."""
    import resource
    import time

    import torch

    from unirank.config import CsvDataConfig
    from unirank.data.dataset import prepare_dataset

    cfg = CsvDataConfig.model_validate({"source": "parquet", "path": folder, "dense": DENSE, "sparse": SPARSE,
                                        "objectives": ["label"]})
    started = time.perf_counter()
    out = prepare_dataset(cfg, Path(cache))
    seconds = time.perf_counter() - started
    tensors = torch.load(out / "tensors.pt", weights_only=True, mmap=True)
    arrays = sum(t.numel() * t.element_size() for t in tensors.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "array_bytes": arrays, "peak_rss": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    root = REPO / "runs" / "benchmarks" / "prepare_speed"
    folder = root / f"criteo-{args.rows}"
    if not folder.is_dir():
        print(f"writing {args.rows:,} Criteo-shaped rows to {folder} …", flush=True)
        write_criteo(folder, args.rows, args.files)
    runs = []
    for r in range(args.repeats):
        cache = root / f"cache-{r}"
        shutil.rmtree(cache, ignore_errors=True)
        done = subprocess.run([sys.executable, __file__, "--child", str(folder), str(cache)], capture_output=True,
                              text=True, cwd=REPO)
        if done.returncode != 0:
            sys.exit(f"error: preparation failed: {done.stderr.strip()[-800:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        shutil.rmtree(cache, ignore_errors=True)
        print(f"run {r}: {args.rows / runs[-1]['seconds']:,.0f} rows/s, peak RSS {runs[-1]['peak_rss'] / 2**30:.2f} GiB",
              flush=True)
    rate = statistics.median(args.rows / x["seconds"] for x in runs)
    peak = statistics.median(x["peak_rss"] for x in runs)
    arrays = runs[0]["array_bytes"]
    each = ", ".join(f"{x['seconds']:.1f}" for x in runs)
    write_section("prepare_speed", "\n".join([
        "## Preparing a Criteo-shaped Parquet directory (the current reader)",
        "",
        f"`python benchmarks/prepare_speed.py` (protocol in its docstring): {args.rows:,} rows in {args.files} "
        f"files, 13 dense + 26 categorical columns; a fresh process per run, median of {args.repeats}.",
        "",
        "| rows | rows/s | seconds per run | peak RSS | prepared arrays | peak / arrays |",
        "|---|---|---|---|---|---|",
        f"| {args.rows:,} | {rate:,.0f} | {each} | "
        f"{peak / 2**30:.2f} GiB | {arrays / 2**30:.2f} GiB | {peak / arrays:.1f}× |",
        "",
        "- issue 20's goal for streaming preparation: ≥ 1,000,000 rows/s at 20 M rows, peak ≤ 1.5× the arrays",
    ]))


if __name__ == "__main__":
    main()
