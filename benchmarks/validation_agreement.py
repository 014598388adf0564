"""Does the search's test-free agreement check flag the splits where validation does not rank for test?

    python benchmarks/validation_agreement.py --tag s47 [--data census movielens synthetic]
        [--seeds 5] [--workers 2]

A search now records each trained candidate's NE on the two halves of the validation rows and prints
the Spearman ρ between them over its candidates (``unirank.search.agreement``), reading no test row.
This asks whether that number tells the splits apart where the search's choice does and does not
carry to the test split. For each search seed of ``search_vs_presets`` run TAG (its folders under
``runs/benchmarks/search_vs_presets/TAG/``; the halves measured here from the saved weights, with
the very function a trial calls, as searches before they were recorded lack them), every trained
candidate (the presets and the searched, repeats left out) is evaluated on validation's two halves
and, as an analysis only, on the test split once; reported per seed:
- **halves ρ**: what the search prints (``validation_agreement``), below ``LOW_AGREEMENT`` flagged;
- **validation → test ρ**: Spearman ρ between the candidates' validation NE as the search recorded
  it (the ranking it chose by) and their test NE — what the check stands in for;
- the test NE of the candidate validation ranks first, and its rank for test among the candidates.
Per-candidate figures are kept under ``runs/benchmarks/validation_agreement/TAG/`` and reused.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, check_verdict_seeds, write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, RUNS, STUDIES  # noqa: E402

ROOT = REPO / "runs" / "benchmarks" / "validation_agreement"


def _measure(job: tuple[str, str, int]) -> list[dict]:
    """One search seed's trained candidates → [{number, label, val_ne, halves_ne, test_ne}]; none
    (and nothing kept) when the folder holds no weights."""
    tag, data, seed = job
    dest = ROOT / tag / data / f"seed-{seed}.json"
    if dest.is_file():
        return json.loads(dest.read_text())
    import torch

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.export.bundle import weights_in
    from unirank.models import build_model
    from unirank.search.agreement import halves_ne
    from unirank.search.study import open_study_from_dir, trial_records
    from unirank.train.checkpoint import load_weights
    from unirank.train.fit import evaluate

    torch.set_num_threads(1)
    out = RUNS / tag / data / f"search-{seed}"
    study, cfg = open_study_from_dir(out, read_only=True)
    dataset = load_prepared(prepare_dataset(cfg.data, out / "cache"))
    rows = []
    for r in trial_records(study):
        weights = weights_in(out, r.weights)
        if r.same_as_trial is not None or not weights or not weights.is_file():
            continue
        model = load_weights(build_model(r.arch, dataset.features), weights).eval()
        rows.append({"number": r.number, "label": r.label, "val_ne": r.mean_ne,
                     "halves_ne": halves_ne(model, dataset.splits["val"], dataset.features),
                     "test_ne": evaluate(model, dataset.splits["test"], dataset.features).mean_ne})
    if not rows:
        return rows
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(rows))
    return rows


def _row(seed: int, rows: list[dict]) -> tuple[str, float | None, float]:
    """A seed's table row, its halves ρ (None: too few candidates) and its validation → test ρ."""
    from unirank.search.agreement import spearman, validation_agreement

    # the search's own check, over records carrying what a trial now records
    agreement = validation_agreement([SimpleNamespace(same_as_trial=None, metrics={"halves_ne": x["halves_ne"]})
                                      for x in rows])
    to_test = spearman([x["val_ne"] for x in rows], [x["test_ne"] for x in rows])
    first = min(rows, key=lambda x: x["val_ne"])
    rank = 1 + sum(x["test_ne"] < first["test_ne"] for x in rows)
    halves = "too few" if agreement is None else f"{agreement.rho:.2f}" + (" (low)" if agreement.low else "")
    return (f"| {seed} | {len(rows)} | {halves} | {to_test:.2f} | {first['label']} | {first['val_ne']:.4f} | "
            f"{first['test_ne']:.4f} | {rank} of {len(rows)} |", agreement and agreement.rho, to_test)


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f} (median {statistics.median(values):.2f})"


def main() -> None:
    from unirank.search.agreement import LOW_AGREEMENT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the search_vs_presets run whose searches to measure")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, metavar="K", help="that run's --first-seed")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seeds = check_verdict_seeds(parser, args.seeds, args.first_seed)
    missing = [f"{d} seed {s}" for d in args.data for s in seeds
               if not (RUNS / args.tag / d / f"search-{s}" / "study.json").is_file()]
    if missing:
        parser.error(f"--tag {args.tag}: no search folder under {RUNS / args.tag} for {', '.join(missing)} "
                     "(run benchmarks/search_vs_presets.py first)")
    jobs = [(args.tag, d, s) for d in args.data for s in seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        measured = dict(zip(jobs, pool.map(_measure, jobs)))
    if unweighted := [f"{d} seed {s}" for _, d, s in jobs if not measured[(args.tag, d, s)]]:
        parser.error(f"--tag {args.tag}: no trained weights under {RUNS / args.tag} for {', '.join(unweighted)} "
                     "(searched elsewhere and brought back by --portable-state, which leaves them out)")
    parts, lines = [], []
    for data in args.data:
        rows, halves, to_test = [], [], []
        for s in seeds:
            row, rho, test_rho = _row(s, measured[(args.tag, data, s)])
            rows.append(row)
            to_test.append(test_rho)
            if rho is not None:
                halves.append(rho)
        parts.append(f"### {data}\n\n| seed | candidates | halves ρ (the search's check) | validation → test ρ | "
                     "validation's first | its validation NE | its test NE | its test rank |\n"
                     "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
        lines.append(f"- {data}: halves ρ {_span(halves) if halves else 'not measured'}; validation → test ρ "
                     f"{_span(to_test)}; seeds flagged low: {sum(h < LOW_AGREEMENT for h in halves)} of {len(halves)}")
    section = (f"## Validation's two halves against the test split: the search's agreement check (run `{args.tag}`)\n\n"
               f"`python benchmarks/validation_agreement.py` (protocol in its docstring): per search seed of "
               f"`search_vs_presets` run `{args.tag}`, every trained candidate's NE on validation's first and second "
               f"half (the search's check, flagged below {LOW_AGREEMENT}) and, as an analysis only, on the test "
               f"split.\n\n" + "\n".join(parts) + "\n" + "\n".join(lines) + "\n")
    print(section)
    write_section(f"validation_agreement_{args.tag}", section)


if __name__ == "__main__":
    main()
