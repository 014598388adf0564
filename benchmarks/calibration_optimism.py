"""How much does fitting calibration on the validation rows flatter their NE?

    python benchmarks/calibration_optimism.py --tag s28 [--data census movielens synthetic] [--seeds 5]

``train.calibrate`` fits Platt scaling per portfolio on the validation rows. For the exported
winner of each search seed of ``search_vs_presets`` run TAG (a run with ``--train-space
calibrated``), from its trained weights: validation NE uncalibrated; calibrated with a table fitted
on the same rows (in-sample, how runs up to s28 measured it); cross-fitted (each half of the rows
calibrated by a table fitted on the other half, ``unirank.models.calibration.cross_fitted``, how
validation is measured now); and test NE uncalibrated and with the table fitted on every
validation row (what the model serves). In-sample minus cross-fitted is the optimism of the
validation measure; the test columns say whether calibration carries to rows it never saw.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, RUNS, _config  # noqa: E402



def _scores(dataset, bundle: Path) -> dict[str, float]:
    import torch

    from unirank.export.bundle import load_bundle
    from unirank.models import calibration
    from unirank.train.fit import predict
    from unirank.train.metrics import portfolio_metrics

    model = load_bundle(bundle).model()
    model.calibration.copy_(calibration.identity(*model.calibration.shape[:2]))  # the raw logits
    features = dataset.features

    def ne(split, logits: torch.Tensor) -> float:
        return portfolio_metrics(torch.sigmoid(logits).numpy(), split.labels.numpy(), split.mask.numpy(),
                                 split.domain.numpy(), features.domains, features.objectives).mean_ne

    val, test = dataset.val, dataset.test
    z_val = torch.from_numpy(predict(model, val, logits=True))
    z_test = torch.from_numpy(predict(model, test, logits=True))
    args = (z_val, val.labels, val.mask, val.domain.cpu(), features.num_domains)
    table = calibration.fit_table(*args)
    return {"val_raw": ne(val, z_val), "val_in_sample": ne(val, calibration.apply(table, z_val, val.domain.cpu())),
            "val_cross_fitted": ne(val, calibration.cross_fitted(*args)),
            "test_raw": ne(test, z_test), "test_served": ne(test, calibration.apply(table, z_test, test.domain.cpu()))}


def report(tag: str, data: str, seeds: int) -> str:
    from unirank.data.dataset import load_prepared, prepare_dataset

    dataset = load_prepared(prepare_dataset(_config(data, "calibrated").data, RUNS / tag / data / "cache"))  # once
    rows, optimism = [], []
    for s in range(seeds):
        exported = sorted((RUNS / tag / data / f"search-{s}" / "export").glob("trial-*"))
        if not exported:
            raise SystemExit(f"calibration_optimism: no exported winner under {RUNS / tag / data / f'search-{s}'}")
        for bundle in exported:
            r = _scores(dataset, bundle)
            optimism.append(r["val_cross_fitted"] - r["val_in_sample"])
            rows.append(f"| {s} | {bundle.name.replace('-', ' ')} | {r['val_raw']:.4f} | {r['val_in_sample']:.4f} | "
                        f"{r['val_cross_fitted']:.4f} | {optimism[-1]:+.4f} | {r['test_raw']:.4f} | "
                        f"{r['test_served']:.4f} |")
    return (f"### {data}\n\n| search seed | winner | val NE raw | val NE calibrated in-sample | val NE cross-fitted | "
            "optimism (cross-fitted − in-sample) | test NE raw | test NE served (calibrated) |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\n- in-sample calibration flatters validation NE by {statistics.mean(optimism):.4f} on average "
            f"({min(optimism):.4f}–{max(optimism):.4f}) over {len(optimism)} models")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="a search_vs_presets run with --train-space calibrated")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    parts = ["## Calibration fitted on the validation rows: how much it flatters their NE (run "
             f"`{args.tag}`)\n\n`python benchmarks/calibration_optimism.py` (protocol in its docstring): the "
             f"exported winners of `search_vs_presets` run `{args.tag}`, scored from their weights."]
    for data in args.data:
        parts.append(report(args.tag, data, args.seeds))
        print(parts[-1], flush=True)
    write_section(f"calibration_optimism_{args.tag}", "\n\n".join(parts))


if __name__ == "__main__":
    main()
