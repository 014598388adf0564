"""Does validation rank the candidates alike across its own rows?

A search chooses on validation NE and is judged later on rows it never read. Whether that choice
carries over can be asked of validation itself, without a test row: each trained candidate's NE is
also measured on the first and the second half of the validation rows (in their stored order: for
``split.by: time``, the earlier and the later half), and the Spearman ρ between the two halves'
NEs over the study's candidates says whether the ranking holds. Where it does not, the winner's
lead over the rest is the noise or the drift of validation, and the winner is unlikely to keep it on
later rows.

Measured on the 48 trained candidates of each of the 5 searches per dataset of
``benchmarks/search_vs_presets.py`` run s47 (``benchmarks/validation_agreement.py``, BENCHMARKS
``validation_agreement_s47``): the two halves agree at ρ 0.86–1.00 on Census-Income and the
synthetic data, where validation ranks the candidates for the test split at ρ 0.92–1.00; on
MovieLens's time split they agree at ρ 0.03–0.34, where validation ranks them for the test split at
ρ −0.13–0.53 and the candidate it ranks first came 2nd to 42nd of 48 on test. ``LOW_AGREEMENT``
(0.5) was set between the two groups; measured afterwards, the halves agree at ρ 0.88–0.95 on
MovieLens split at random (validation against test 0.95–0.99) and at ρ 0.84–0.92 on its time split
with each rating's user history (0.87–0.99).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# below this ρ between validation's halves, the search's ranking is called untrustworthy
LOW_AGREEMENT = 0.5
# fewer measured candidates than this give no ρ worth printing
MIN_CANDIDATES = 8


def halves_ne(model, split, features, precision: str = "auto") -> list[float]:
    """The model's mean NE on the first and on the second half of ``split``'s rows (one pass of
    prediction), as served: [NE of rows [0, N/2), NE of rows [N/2, N)]."""
    from unirank.train.fit import predict
    from unirank.train.metrics import portfolio_metrics

    probs = predict(model, split, precision=precision)
    labels, mask, domain = split.labels.numpy(), split.mask.numpy(), split.domain.numpy()
    half = len(probs) // 2
    return [float(portfolio_metrics(probs[rows], labels[rows], mask[rows], domain[rows],
                                    features.domains, features.objectives).mean_ne)
            for rows in (slice(0, half), slice(half, None))]


@dataclass(frozen=True)
class Agreement:
    rho: float  # Spearman ρ between the candidates' NE on validation's first and second half
    candidates: int  # how many trained candidates it is over

    @property
    def low(self) -> bool:
        return self.rho < LOW_AGREEMENT

    def line(self) -> str:
        """One line for the search's summary and the report."""
        text = (f"validation's two halves rank the {self.candidates} trained candidates with Spearman "
                f"ρ {self.rho:.2f}")
        if not self.low:
            return text
        return (f"{text} (below {LOW_AGREEMENT}): validation does not rank these candidates alike across "
                "its own rows, so the winner's lead on it may not hold on later rows; confirm it on rows "
                "the search did not read before trusting it")


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's ρ of two equally long lists (ties get their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def validation_agreement(records) -> Agreement | None:
    """The agreement over the trained trials (``TrialRecord``s) that recorded both halves
    (``metrics["halves_ne"]``), or None where fewer than ``MIN_CANDIDATES`` did."""
    pairs = [r.metrics["halves_ne"] for r in records
             if r.same_as_trial is None  # a repeat of a known architecture carries its metrics, not a training
             and len(r.metrics.get("halves_ne") or ()) == 2 and all(map(math.isfinite, r.metrics["halves_ne"]))]
    if len(pairs) < MIN_CANDIDATES:
        return None
    first, second = np.array(pairs).T
    if first.std() == 0 or second.std() == 0:  # every candidate alike: no ranking to agree on
        return None
    return Agreement(rho=spearman(first.tolist(), second.tolist()), candidates=len(pairs))
