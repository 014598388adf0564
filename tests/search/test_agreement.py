"""The search's test-free check: do validation's two halves rank the trained candidates alike?"""
import math
from types import SimpleNamespace

import pytest

from unirank.search.agreement import LOW_AGREEMENT, MIN_CANDIDATES, validation_agreement


def _records(pairs, **attrs):
    return [SimpleNamespace(same_as_trial=None, metrics={"halves_ne": list(p)}, **attrs) for p in pairs]


def test_halves_that_rank_alike_agree_and_are_not_flagged():
    records = _records((0.5 + 0.01 * i, 0.6 + 0.02 * i) for i in range(10))
    agreement = validation_agreement(records)
    assert agreement.rho == pytest.approx(1.0) and agreement.candidates == 10 and not agreement.low
    assert "below" not in agreement.line()


def test_halves_that_rank_in_reverse_are_flagged_with_advice():
    records = _records((0.5 + 0.01 * i, 0.6 - 0.02 * i) for i in range(10))
    agreement = validation_agreement(records)
    assert agreement.rho == pytest.approx(-1.0) and agreement.low
    assert f"below {LOW_AGREEMENT}" in agreement.line() and "10 trained candidates" in agreement.line()


def test_repeats_unmeasured_and_non_finite_trials_are_left_out():
    measured = _records((0.5 + 0.01 * i, 0.6 + 0.01 * (i % 3)) for i in range(MIN_CANDIDATES))
    repeat = SimpleNamespace(same_as_trial=3, metrics={"halves_ne": [0.1, 0.9]})
    older = SimpleNamespace(same_as_trial=None, metrics={"mean_ne": 0.5})  # searched before halves were kept
    broken = SimpleNamespace(same_as_trial=None, metrics={"halves_ne": [math.nan, 0.5]})
    agreement = validation_agreement([*measured, repeat, older, broken])
    assert agreement.candidates == MIN_CANDIDATES
    assert validation_agreement([*measured[:-1], repeat, older, broken]) is None  # too few measured


def test_candidates_all_alike_give_no_ranking():
    assert validation_agreement(_records((0.5, 0.6 + 0.01 * i) for i in range(10))) is None
