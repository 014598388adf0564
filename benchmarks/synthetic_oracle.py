"""How much room is there above the tuned presets on the built-in synthetic data?

    python benchmarks/synthetic_oracle.py

The synthetic labels are drawn from known probabilities (``unirank.data.synthetic``), so the
Bayes-optimal model — those probabilities themselves — can be scored on the very test split
``benchmarks/search_vs_presets.py`` uses (``studies/quickstart.yaml``, its split): its test NE is
the floor no model reaches in expectation, its pooled test AUC the ceiling. Compared with what the
runs of ``search_vs_presets.py`` measured (read from
``runs/benchmarks/search_vs_presets/<tag>/synthetic``): per seed, the best tuned preset's test NE
(the tunings are shared by the runs), its headroom over the oracle, and the best test NE of any
run's search winner; against them the margin the verdict asks for (the seeds' std of the tuned
presets' test NE). Nothing is trained; the test split is read, as those runs read it.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402
from benchmarks.search_vs_presets import _config  # noqa: E402

RUNS = REPO / "runs" / "benchmarks" / "search_vs_presets"


def oracle_metrics() -> dict:
    """The true probabilities scored on the test split → test_ne, test_auc (as the runs score)."""
    from unirank.data.dataset import load_prepared, prepare_dataset, split_rows
    from unirank.data.synthetic import generate_synthetic, synthetic_truth
    from unirank.train.metrics import portfolio_metrics

    cfg = _config("synthetic")
    dataset = load_prepared(prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "synthetic_oracle"))
    test = dataset.splits["test"]
    truth = synthetic_truth(cfg.data)
    rows = split_rows(len(truth), cfg.data)["test"]
    labels = test.labels.numpy()
    # the prepared split must be the generator's rows in this order, or the scores mean nothing
    if not np.array_equal(labels[:, 0], generate_synthetic(cfg.data).frame["click"].to_numpy()[rows]):
        raise SystemExit("synthetic_oracle: the prepared test split does not line up with the generator's rows")
    result = portfolio_metrics(truth[rows], labels, test.mask.numpy(), test.domain.numpy(),
                               dataset.features.domains, dataset.features.objectives)
    return {"test_ne": result.mean_ne, "test_auc": statistics.mean(v["pooled_auc"] for v in result.objectives.values()),
            "rows": len(rows)}


def best_tuned() -> dict[int, dict]:
    """Per seed, the tuned preset with the best validation NE (as ``search_vs_presets`` picks it)."""
    tuned: dict[int, dict] = {}
    for path in sorted(RUNS.glob("*/synthetic/tuned/*.json")):
        r = json.loads(path.read_text())
        if r["seed"] not in tuned or r["ne"] < tuned[r["seed"]]["ne"]:
            tuned[r["seed"]] = r
    return tuned


def best_winners() -> dict[int, tuple[float, str]]:
    """Per seed, the lowest test NE any run's exported search winner reached → (test NE, run)."""
    best: dict[int, tuple[float, str]] = {}
    for path in RUNS.glob("*/synthetic/search-*/export/trial-*/test_metrics.json"):
        seed, tag = int(path.parts[-4].split("-")[1]), path.parts[-6]
        ne = json.loads(path.read_text())["test_ne"]
        if seed not in best or ne < best[seed][0]:
            best[seed] = (ne, f"{tag} {path.parts[-2]}")
    return best


def main() -> None:
    oracle, tuned, winners = oracle_metrics(), best_tuned(), best_winners()
    if not tuned:
        raise SystemExit(f"synthetic_oracle: no tuned presets under {RUNS}/*/synthetic/tuned "
                         "(run benchmarks/search_vs_presets.py --data synthetic first)")
    std = statistics.stdev(r["test_ne"] for r in tuned.values())
    rows = []
    for s, r in sorted(tuned.items()):
        w = winners.get(s)
        rows.append(f"| {s} | {r['preset']} | {r['test_ne']:.4f} | {r['test_ne'] - oracle['test_ne']:.4f} | "
                    f"{'yes' if r['test_ne'] - oracle['test_ne'] > std else 'no'} | "
                    + (f"{w[0]:.4f} ({w[1]}) |" if w else "— |"))
    within = sum(r["test_ne"] - oracle["test_ne"] <= std for r in tuned.values())
    body = "\n".join([
        "## The synthetic data's floor: the Bayes-optimal model on the test split",
        "",
        "`python benchmarks/synthetic_oracle.py` (protocol in its docstring): the probabilities the labels were drawn "
        f"from, scored on the {oracle['rows']} test rows of `studies/quickstart.yaml`: **test NE {oracle['test_ne']:.4f}, "
        f"pooled test AUC {oracle['test_auc']:.4f}** (no model beats these in expectation).",
        "",
        "| seed | best tuned preset | its test NE | headroom over the oracle | headroom > the seeds' std | "
        "best search winner's test NE (run, trial) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"- the seeds' std of the tuned presets' test NE: {std:.4f}; the verdict of `search_vs_presets.py` asks a "
        f"winner to beat its seed's preset by at least that (or the winners' std, if larger)",
        f"- seeds whose best tuned preset is within that std of the oracle (no model can beat it by the margin "
        f"there): {within} of {len(tuned)}",
    ])
    print(write_section("synthetic_oracle", body))


if __name__ == "__main__":
    main()
