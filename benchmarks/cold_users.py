"""On a split whose evaluation rows are mostly users no training row has, what does the user's id
do to a model's NE, and does validation see what test sees?

    python benchmarks/cold_users.py [--data movielens movielens_random] [--preset deepfm]
        [--seeds 5] [--workers 2] [--id-dropout 0.1 0.3] [--id-dropout-features user_id item_id]

Per dataset of ``search_vs_presets`` (its study and split; training values: the study's own) the
preset is trained from ``--seeds`` seeds (0…n−1) in three forms of its ArchSpec:
- **as is**: every feature;
- **without user_id**: the user's id left out (``embedding.dropped``), so a cold user's rows are
  predicted from the same inputs as a warm user's (demographics, item);
- **without user_id and zip3**: also the user's 3-digit zip code, of which a few users hold most
  rows (a near-id; the search space's feature group ``medium`` holds exactly these two features);
- with ``--id-dropout P…``, **as is, id dropout P**: every feature, trained with ``train.id_dropout``
  P (each id of ``--id-dropout-features``, default every sparse feature, replaced by the OOV id with
  probability P in training), so that the model learns to predict an id it has not seen.
Each training stops early on validation (the study's protocol) and reads the test split once.
Reported per form: validation and test NE over all rows, over the rows of warm users (an id some
training row has) and of cold users (out of the training vocabulary, ``benchmarks/cold_rows.py``),
the pooled test AUC, and the paired test-NE difference to the preset as is. An analysis of the
split, not a selection: nothing here feeds a search or a setting. Trainings are kept under
``runs/benchmarks/cold_users/`` and skipped when rerun.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, machine, mean_std, paired_change, test_scores, write_section  # noqa: E402
from benchmarks.search_vs_presets import STUDIES, _config  # noqa: E402

ROOT = REPO / "runs" / "benchmarks" / "cold_users"
FORMS = {"as is": (), "without user_id": ("user_id",), "without user_id and zip3": ("user_id", "zip3")}


def _rows(split, column: int, cold: bool | None):
    """The split, or its rows of cold (OOV id) or warm users only."""
    from unirank.data.batches import TensorSplit

    if cold is None:
        return split
    keep = (split.sparse[:, column] == 0) == cold
    return TensorSplit(**{k: v[keep] for k, v in split.tensors().items()})


def _form(name: str, id_features: tuple[str, ...]) -> tuple[tuple[str, ...], dict]:
    """A form's name → (features dropped from the ArchSpec, training-value updates)."""
    if name in FORMS:
        return FORMS[name], {}
    return (), {"id_dropout": float(name.rsplit(" ", 1)[1]), "id_dropout_features": id_features}


def _train(job: tuple) -> dict:
    """One training of one form → NE per split and user kind, test AUC."""
    data, preset, form, id_features, seed, dest = job
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.space import PRESETS
    from unirank.space.arch import ArchSpec
    from unirank.train import fit, seed_everything
    from unirank.train.fit import evaluate

    torch.set_num_threads(1)
    cfg = _config(data)
    dataset = load_prepared(prepare_dataset(cfg.data, ROOT / "cache"))
    spec = PRESETS[preset].to_dict()
    dropped, train = _form(form, id_features)
    spec["embedding"]["dropped"] = sorted({*spec["embedding"].get("dropped", ()), *dropped})
    arch = ArchSpec.from_dict(spec)
    seed_everything(seed)
    model = build_model(arch, dataset.features)
    fit(model, dataset, cfg.train.model_copy(update={"seed": seed, **train}))
    user = [f.name for f in dataset.features.sparse].index("user_id")
    out = {"form": form, "seed": seed, "machine": machine()}
    for name in ("val", "test"):
        for kind, cold in (("all", None), ("warm", False), ("cold", True)):
            rows = _rows(dataset.splits[name], user, cold)
            out[f"{name}_{kind}"] = evaluate(model, rows, dataset.features).mean_ne if len(rows) else None
    out["test_auc"] = test_scores(evaluate(model, dataset.splits["test"], dataset.features))["test_auc"]
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Path(dest).write_text(json.dumps(out))
    return out


def report(data: str, preset: str, forms: list[str], results: list[dict], seeds: int) -> str:
    base = {r["seed"]: r["test_all"] for r in results if r["form"] == "as is"}
    rows = []
    for form in forms:
        runs = [r for r in results if r["form"] == form]
        cells = [mean_std([r[f"{s}_{k}"] for r in runs]) if runs[0][f"{s}_{k}"] is not None else "no rows"
                 for s in ("val", "test") for k in ("all", "warm", "cold")]
        diff = [r["test_all"] - base[r["seed"]] for r in runs]
        paired = "–" if form == "as is" else paired_change(diff)
        rows.append(f"| {preset} {form} | " + " | ".join(cells)
                    + f" | {mean_std([r['test_auc'] for r in runs])} | {paired} |")
    return (f"### {data}: {preset}, the study's training values, {seeds} seeds\n\n"
            "| model | val NE | val NE, warm users | val NE, cold users | test NE | test NE, warm users | "
            "test NE, cold users | pooled test AUC | test NE − as is (paired) |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["movielens", "movielens_random"], choices=list(STUDIES))
    parser.add_argument("--preset", default="deepfm")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--id-dropout", nargs="*", type=float, default=[],
                        help="also train the preset as is with train.id_dropout P, for each P")
    parser.add_argument("--id-dropout-features", nargs="*", default=[],
                        help="the sparse features id dropout acts on (default: every one)")
    args = parser.parse_args()
    if any(not 0 < p < 1 for p in args.id_dropout):
        parser.error("--id-dropout: expected probabilities 0 < P < 1")
    id_features = tuple(args.id_dropout_features)
    forms = [*FORMS, *(f"as is, id dropout {p:g}" for p in args.id_dropout)]
    on = f"-on-{'-'.join(id_features)}" if id_features else ""
    dests = {form: (f"{i}" if form in FORMS else f"idd{form.rsplit(' ', 1)[1]}{on}") for i, form in enumerate(forms)}
    jobs = {d: [(d, args.preset, form, id_features, s, str(ROOT / d / f"{args.preset}-{dests[form]}-{s}.json"))
                for form in forms for s in range(args.seeds)] for d in args.data}
    parts = ["## Cold users: a preset with and without the user's id\n\n`python benchmarks/cold_users.py` "
             "(protocol in its docstring). Warm users: an id some training row has; cold: none has. "
             "Mean ± std over the training seeds."]
    ran_on = set()
    with ProcessPoolExecutor(args.workers) as pool:
        for data in args.data:
            results = list(pool.map(_train, jobs[data]))
            ran_on |= {r["machine"] for r in results}
            parts.append(report(data, args.preset, forms, results, args.seeds))
            print(parts[-1], flush=True)
    if args.id_dropout:
        parts.append(f"- id dropout acts on: {', '.join(id_features) or 'every sparse feature'}")
    parts.append(f"- trainings ran on: {'; '.join(sorted(ran_on))} (CPU, one thread each)")
    write_section("cold_users" + "".join(f"_{d}" for d in args.data if args.data != ["movielens", "movielens_random"])
                  + (f"_id_dropout{on.replace('-', '_')}" if args.id_dropout else ""), "\n\n".join(parts))


if __name__ == "__main__":
    main()
