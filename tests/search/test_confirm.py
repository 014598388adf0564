"""Which candidates the confirmation trains (``search.confirm``): the best trainings, or the best
training of each of the best distinct architectures (``per: architecture``)."""
from pathlib import Path

import optuna
import pytest

from unirank.config import load_config
from unirank.errors import UnirankError
from unirank.search.confirm import chosen
from unirank.space import PRESETS

QUICKSTART = Path(__file__).resolve().parents[2] / "studies" / "quickstart.yaml"


def _study(rows):
    """A study of trained candidates, (name, architecture, validation NE, preset or None) each, recorded
    as the searcher records them; made-up values: this tests the choice, not a search."""
    study = optuna.create_study()
    for _, arch, ne, preset in rows:
        attrs = {"arch": arch.to_dict(), "metrics": {"mean_ne": ne}, "cost": {"mflops": 1.0}, "weights": "w"}
        study.add_trial(optuna.trial.create_trial(value=ne, user_attrs={**attrs, **({"preset": preset} if preset else {})}))
    return study


@pytest.mark.parametrize("per, expected", [("trial", [0, 1, 2, 3]), ("architecture", [0, 1, 4, 5])])
def test_the_confirmation_takes_the_best_trainings_or_each_architectures_best(per, expected):
    a, b, c, d = (PRESETS[n] for n in ("dcnv2", "mmoe", "ple", "dlrm"))
    # the search tuned architecture a's training values three times; the one preset is worse than every candidate
    study = _study([("preset", b, 0.40, "mmoe"), ("a1", a, 0.300, None), ("a2", a, 0.301, None),
                    ("a3", a, 0.302, None), ("c", c, 0.303, None), ("d", d, 0.304, None), ("a4", a, 0.305, None)])
    cfg = load_config(QUICKSTART, [f"search.confirm={{top: 3, seeds: 2, per: {per}}}"])
    # the best preset first, then the top three by the rule (trial numbers: 0 is the preset)
    assert [r.number for r in chosen(study, cfg)] == expected


def test_confirm_per_takes_trial_or_architecture_only():
    with pytest.raises(UnirankError, match="search.confirm.per"):
        load_config(QUICKSTART, ["search.confirm={per: arch}"])
