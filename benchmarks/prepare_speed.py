"""How fast a Criteo-shaped Parquet directory is prepared, and at what peak memory.

    python benchmarks/prepare_speed.py [--rows 2000000] [--files 8] [--repeats 3]

Writes a Criteo-shaped directory (13 dense float columns, 26 categorical string columns with
Zipf-distributed ids over 10^5 values each, a 0/1 label; ``--files`` Parquet files) under
``runs/benchmarks/prepare_speed/``, then times ``unirank.data.dataset.prepare_dataset`` on it in a
fresh process per repeat (random 80/10/10 split, vocabularies and normalisation fitted on the
training rows, tensors written to the cache): rows per second (median of ``--repeats``) and the
process's peak RSS against the bytes of the prepared arrays. Issue 20's goal for its streaming
preparation is ≥ 1 M rows/s at 20 M rows on 2 cores with peak memory ≤ 1.5 × the prepared arrays;
this measures it, beside an expert's hand-written in-memory preparation of the same arrays,
and what two concurrent trials reading the prepared data cost in memory.
"""
from __future__ import annotations

import argparse
import json
import os
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
    words = {name: pa.array(np.char.add(f"{name}_", np.arange(100_001).astype(str))) for name in SPARSE}
    for f in range(files):
        n = min(per_file, rows - f * per_file)
        columns = {name: rng.lognormal(1.0, 1.5, n).astype("float32") for name in DENSE}
        for name in SPARSE:
            ids = np.minimum(rng.zipf(1.3, n), 100_000)
            columns[name] = words[name].take(pa.array(ids))  # f"{name}_{id}" as plain strings
        columns["label"] = (rng.random(n) < 0.25).astype("int8")
        pq.write_table(pa.table(columns), folder / f"part-{f:03d}.parquet")


def _config(folder: str):
    from unirank.config import CsvDataConfig

    return CsvDataConfig.model_validate({"source": "parquet", "path": folder, "dense": DENSE, "sparse": SPARSE,
                                         "objectives": ["label"]})


def _child(how: str, folder: str, cache: str) -> None:
    """One timed preparation in this (fresh) process, by unirank or by the hand-written baseline;
    prints JSON."""
    import resource
    import time

    import numpy as np

    from unirank.data.dataset import prepare_dataset

    started = time.perf_counter()
    if how == "unirank":
        out = prepare_dataset(_config(folder), Path(cache))
    else:
        out = Path(cache)
        _baseline(folder, out)
    seconds = time.perf_counter() - started
    arrays = sum(np.load(f, mmap_mode="r").nbytes for f in out.glob("*.npy"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "array_bytes": arrays, "peak_rss": peak}))


def _baseline(folder: str, out: Path) -> None:
    """What an expert writes by hand: the whole table in memory with pyarrow (string columns read as
    the files' dictionaries), per column the training rows' counts → ids by frequency, dense signed
    log + standardisation, the same random 80/10/10 rows per split, one ``.npy`` per tensor."""
    import numpy as np
    import pyarrow.parquet as pq

    from unirank.data.dataset import SPLITS, split_rows

    table = pq.read_table(folder, columns=[*DENSE, *SPARSE, "label"], read_dictionary=SPARSE)
    rows = split_rows(table.num_rows, _config(folder))
    train = np.zeros(table.num_rows, dtype=bool)
    train[rows["train"]] = True
    sparse = np.empty((table.num_rows, len(SPARSE)), dtype=np.int64)
    for j, name in enumerate(SPARSE):
        column = table.column(name).unify_dictionaries().combine_chunks()
        codes = column.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(codes[train], minlength=len(column.dictionary))
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] > 0]
        ids = np.zeros(len(column.dictionary), dtype=np.int64)
        ids[order] = np.arange(1, len(order) + 1)
        sparse[:, j] = ids[codes]
    dense = np.empty((table.num_rows, len(DENSE)), dtype=np.float32)
    for j, name in enumerate(DENSE):
        values = table.column(name).to_numpy().astype(np.float64)
        if np.nanmax(np.abs(values[train])) > 100:
            values = np.sign(values) * np.log1p(np.abs(values))
        dense[:, j] = np.nan_to_num((values - np.nanmean(values[train])) / np.nanstd(values[train]))
    labels = table.column("label").to_numpy().astype(np.float32)[:, None]
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        index = np.sort(rows[split])
        for name, array in (("dense", dense), ("sparse", sparse), ("labels", labels), ("mask", labels == labels),
                            ("domain", np.zeros(table.num_rows, dtype=np.int64))):
            np.save(out / f"{split}.{name}.npy", array[index])


def _trial(cache: str) -> None:
    """A trial's use of the prepared data: load it (memory maps) and draw every training and
    validation row in shuffled batches; then, once the parent says so, report this process's
    memory from /proc/self/smaps_rollup (kB) as JSON."""
    import torch

    from unirank.data.dataset import load_prepared

    dataset = load_prepared(Path(cache))
    total = 0.0
    for split in (dataset.train, dataset.val):
        for batch in split.batches(4096, generator=torch.Generator().manual_seed(0)):
            total += float(batch.dense[:, 0].sum()) + float(batch.sparse[:, 0].sum())
    print("ready", flush=True)
    sys.stdin.readline()  # both trials hold their maps while measured
    fields = dict(line.split(":", 1) for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:])
    print(json.dumps({k: int(fields[k].split()[0]) for k in ("Rss", "Pss", "Anonymous", "Shared_Clean")}))


def _two_trials(cache: Path) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, __file__, "--trial", str(cache)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]


def _run(how: str, folder: Path, cache: Path) -> dict:
    shutil.rmtree(cache, ignore_errors=True)
    os.sync()  # the previous run's written pages reach the disk first: each run starts from the same state
    done = subprocess.run([sys.executable, __file__, "--child", how, str(folder), str(cache)], capture_output=True,
                          text=True, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"error: {how} preparation failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.trial:
        _trial(args.trial)
        return
    root = REPO / "runs" / "benchmarks" / "prepare_speed"
    folder = root / f"criteo-{args.rows}"
    if not folder.is_dir():
        print(f"writing {args.rows:,} Criteo-shaped rows to {folder} …", flush=True)
        write_criteo(folder, args.rows, args.files)
    runs = {"unirank": [], "baseline": []}
    for r in range(args.repeats):  # alternating, a fresh process each
        for how in runs:
            runs[how].append(_run(how, folder, root / f"{how}-cache"))
            x = runs[how][-1]
            print(f"run {r} {how}: {args.rows / x['seconds']:,.0f} rows/s, peak RSS {x['peak_rss'] / 2**30:.2f} GiB",
                  flush=True)
    shutil.rmtree(root / "baseline-cache", ignore_errors=True)
    cache = next(p for p in (root / "unirank-cache").iterdir() if p.is_dir())
    trials = _two_trials(cache)
    shutil.rmtree(root / "unirank-cache", ignore_errors=True)
    arrays = runs["unirank"][0]["array_bytes"]
    lines = []
    for how, label in (("unirank", "unirank (streaming, `prepare_dataset`)"),
                       ("baseline", "hand-written in-memory pyarrow + numpy (baseline)")):
        rate = statistics.median(args.rows / x["seconds"] for x in runs[how])
        peak = statistics.median(x["peak_rss"] for x in runs[how])
        each = ", ".join(f"{x['seconds']:.1f}" for x in runs[how])
        lines.append(f"| {label} | {rate:,.0f} | {each} | {peak / 2**30:.2f} GiB | {peak / arrays:.2f}× |")
    speed = (statistics.median(args.rows / x["seconds"] for x in runs["unirank"])
             / statistics.median(args.rows / x["seconds"] for x in runs["baseline"]))
    kib = 2**20
    write_section("prepare_speed", "\n".join([
        "## Preparing a Criteo-shaped Parquet directory",
        "",
        f"`python benchmarks/prepare_speed.py --rows {args.rows} --files {args.files} --repeats {args.repeats}` "
        f"(protocol in its docstring): {args.rows:,} rows in {args.files} files, 13 dense + 26 categorical columns "
        f"(Zipf ids over 10^5 values); random 80/10/10 split, vocabularies and normalisation fitted on the training "
        f"rows; a fresh process per run, the two alternating, median of {args.repeats}. Prepared arrays: "
        f"{arrays / 2**30:.2f} GiB.",
        "",
        "| preparation | rows/s | seconds per run | peak RSS | peak / arrays |",
        "|---|---|---|---|---|",
        *lines,
        "",
        f"- unirank / baseline speed: **{speed:.2f}×**",
        f"- two trials reading the prepared data at once (each draws every training and validation row in shuffled "
        f"batches, then both are measured while they hold it): RSS {trials[0]['Rss'] / kib:.2f} and "
        f"{trials[1]['Rss'] / kib:.2f} GiB, of which private (anonymous) memory {trials[0]['Anonymous'] / kib:.2f} and "
        f"{trials[1]['Anonymous'] / kib:.2f} GiB; summed proportional set size (PSS) {sum(t['Pss'] for t in trials) / kib:.2f} "
        f"GiB against {arrays / 2**30:.2f} GiB of arrays: the pages of the column files are shared, not copied",
        "- issue 20's goal: ≥ 1,000,000 rows/s at 20 M rows, peak ≤ 1.5× the arrays, no second copy for a second trial",
    ]))


if __name__ == "__main__":
    main()
