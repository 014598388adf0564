"""How many evaluation rows carry an id no training row has (cold users, cold items)?

    python benchmarks/cold_rows.py [--data movielens movielens_random] [--features user_id item_id]

Per dataset of ``search_vs_presets`` (its study, split and overrides) and per sparse feature of
``--features``: the share of the validation and of the test rows whose id is out of the training
vocabulary (the prepared data's id 0, OOV). With ``min_count`` 1 (MovieLens) a training id is
never OOV, so the share is the rows whose user (item) no training row has; with a larger
``min_count`` it also counts the rare ids. Reads ids only, no label; nothing is trained.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402
from benchmarks.search_vs_presets import STUDIES, _config  # noqa: E402

CACHE = REPO / "runs" / "benchmarks" / "cold_rows" / "cache"
DEFAULT_DATA = ["movielens", "movielens_random"]


def cold_shares(cfg, features: list[str]) -> dict[str, tuple[float, float]]:
    """{feature: (share of validation rows OOV, share of test rows OOV)} for the features the
    data of study ``cfg`` has."""
    from unirank.data.coverage import oov_shares
    from unirank.data.dataset import load_prepared, prepare_dataset

    dataset = load_prepared(prepare_dataset(cfg.data, CACHE))
    names = [f.name for f in dataset.features.sparse]
    val, test = (oov_shares(dataset.splits[s]) for s in ("val", "test"))
    return {f: (float(val[names.index(f)]), float(test[names.index(f)])) for f in features if f in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=DEFAULT_DATA, choices=list(STUDIES))
    parser.add_argument("--features", nargs="+", default=["user_id", "item_id"])
    args = parser.parse_args()
    rows = []
    for data in args.data:
        cfg = _config(data)
        split = cfg.data.split
        for feature, (val, test) in cold_shares(cfg, args.features).items():
            rows.append(f"| {data} | {split.by} ({split.val_fraction:g} / {split.test_fraction:g}) | {feature} "
                        f"| {val:.1%} | {test:.1%} |")
    body = ("## Evaluation rows whose id no training row has\n\n"
            "`python benchmarks/cold_rows.py` (protocol in its docstring): the share of validation and test "
            "rows whose id is out of the training vocabulary.\n\n"
            "| data | split (val / test fraction) | feature | validation rows OOV | test rows OOV |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    write_section("cold_rows" if args.data == DEFAULT_DATA else "cold_rows_" + "_".join(args.data), body)


if __name__ == "__main__":
    main()
