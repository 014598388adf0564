"""Local search around the best trial so far (``search.sampler: local``).

White et al. ("Exploring the loss landscape in NAS", UAI 2021) found plain local search a
state-of-the-art NAS method on the common benchmarks; here it searches around the presets, which
are trials with the space's parameters. Each proposal is an unseen *neighbour* of the centre — the
centre's parameters with exactly one decision changed: a categorical parameter set to another of
its choices, an integer one stepped by ±1, a training value (``space.train``) changed; parameters
the change brings into existence are drawn (seeded), those it makes irrelevant dropped, so a
neighbour is always a valid point of the space. The centre:

- one objective: the best finished trial (presets included); as soon as a neighbour beats it, the
  neighbour is the centre (first-improvement hill climbing); when every neighbour of the best has
  been evaluated, the next best trial's neighbours are proposed, and so on;
- the Pareto objective: a trial drawn (seeded) from the non-dominated front of the finished trials,
  the other front members when its neighbourhood is exhausted.

Neighbours are visited in a seeded random order, or (``search.neighbour_order: predicted``) best
predicted first: an additive model learns the objective from the parameters of every trained
point (presets included) and ranks the centre's unseen neighbours by it — as BANANAS (White et
al., AAAI 2021) optimises its acquisition by mutating the best architectures — so a decision that
helped elsewhere in the study (another dense encoding, a wider cross) is tried on the centre early
instead of by chance; or (``expected_improvement``) by the expected improvement of the change
under a Bayesian version of that model, so a value no trained point has taken comes before a
change seen to be mediocre; or (``thompson``) by the change's effect under one seeded draw from
that model's posterior, so seeds sharing their trained points still differ. A neighbour over a
hard budget or over the scalarised target (``search.over_target: infeasible``) is *repaired*: of
its own neighbours that keep its change, fit, and were not evaluated, the one with the most
MFLOPs (the smallest give-up) is proposed instead — a move like "periodic dense rows and a
narrower layer", which no single step under the cap can make. A neighbour without a fitting
repair is proposed as it is, and the searcher tells it infeasible without training. Until two
trials have finished, the study's sampler proposes.

``search.sampler: tpe_local`` alternates: TPE (the study's sampler, which learns from every trial,
the local ones included) proposes one candidate, local search around the best so far the next —
whose turn it is follows from the searched trials already in the study (presets not counted), so a
resumed study keeps the alternation where it stopped. TPE reaches regions several decisions away
from the presets; local search refines what is best.
"""
from __future__ import annotations

import random
from typing import Callable, NamedTuple

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from unirank.search.evolution import ChildTrial, arch_key, pareto_front, point_key, seen_keys, trained_points
from unirank.search.predictor import param_features
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace


class Neighbour(NamedTuple):
    params: dict  # what space.suggest/suggest_train ask for it
    arch: ArchSpec
    train: dict  # its searched training values
    name: str  # the parameter changed
    change: str  # "name: old → new"


def neighbours(space: SearchSpace, params: dict, distributions: dict, salt: object = 0) -> list[Neighbour]:
    """Every point one decision away from ``params``, in the order of ``distributions``; parameters
    the change brings into existence drawn from a generator seeded by (``salt``, the change)."""
    out = []
    for name, dist in distributions.items():
        if isinstance(dist, IntDistribution):
            values = [v for v in (params[name] - 1, params[name] + 1) if dist.low <= v <= dist.high]
        elif isinstance(dist, CategoricalDistribution):
            values = [c for c in dist.choices if c != params[name]]
        else:
            continue
        for value in values:
            child = ChildTrial({**params, name: value}, random.Random(f"{salt}-{name}-{value}"))
            arch, train = space.suggest(child), space.suggest_train(child)
            out.append(Neighbour(child.used, arch, train, name, f"{name}: {params[name]!r} → {value!r}"))
    return out


# MFLOPs of an architecture when it is within the hard budgets and the capped target, else None
Check = Callable[[ArchSpec], "float | None"]


class LocalSearchProposer:
    def __init__(self, space: SearchSpace, seed: int = 0, check: Check | None = None, every: int = 1,
                 order: str = "random"):
        self.space, self.seed, self.rng, self.check = space, seed, random.Random(seed), check
        self.order = order  # "random", "predicted", "expected_improvement" or "thompson" (search.neighbour_order)
        self.every = every  # proposes for every every-th searched trial, the study's sampler for the others
        self._checked: dict[str, float | None] = {}  # architecture → check's answer
        self._repaired: set[str] = set()  # over-cap neighbours a repair already stood in for

    def centres(self, done: list[optuna.trial.FrozenTrial], objectives: int) -> list[optuna.trial.FrozenTrial]:
        """The trained points ``done`` (``trained_points``) in the order their neighbourhoods are searched."""
        if len(done) < 2:
            return []
        if objectives > 1:
            front = pareto_front(done)
            return self.rng.sample(front, len(front))
        return sorted(done, key=lambda t: t.values[0])

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters of the next neighbour, or None (the study sampler's turn, too few trials, or
        every neighbourhood searched)."""
        searched = sum(1 for t in study.get_trials(deepcopy=False) if "preset" not in t.user_attrs)
        if searched % self.every != self.every - 1:
            return None
        seen = seen_keys(study)
        done = trained_points(study)
        rank = self._predictor(done) if self.order != "random" else None
        for centre in self.centres(done, len(study.directions)):
            near = neighbours(self.space, centre.params, centre.distributions, salt=(centre.number, self.seed))
            near = self.rng.sample(near, len(near))
            if rank is not None and near:
                near = [near[i] for i in rank(centre.params, near)]
            for params, arch, train, changed, _ in near:
                key = point_key(arch.to_dict(), train)
                if key in seen or key in self._repaired:
                    continue
                if self._fits(arch) is not None:
                    return params
                self._repaired.add(key)
                return self.repair(params, changed, seen, salt=(centre.number, self.seed, changed)) or params
        return None

    def _predictor(self, done: list[optuna.trial.FrozenTrial]) -> Callable[[dict, list[Neighbour]], list[int]] | None:
        """Orders the neighbours of a centre (its parameters) best first, or None with fewer than 4
        trained points (``done``). The model is additive, fitted on the trained points' first
        objective: a neighbour differs from its centre in one decision, so its predicted gain is
        that decision's learnt effect — which a forest, predicting a point far from the ones taking
        the decision, gets wrong. ``predicted``: ridge regression on the standardised parameters
        (one-hot where categorical), lowest prediction first. ``expected_improvement``:
        ``_expected_improvement``; ``thompson``: ``_thompson``."""
        if len(done) < 4:
            return None
        if self.order == "expected_improvement":
            return lambda centre, near: _expected_improvement(done, centre, near)
        if self.order == "thompson":  # seeded by the study's progress, so a resumed study draws the same
            rng = np.random.default_rng([self.seed, len(done)])
            return lambda centre, near: _thompson(done, centre, near, rng)
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(DictVectorizer(sparse=False), StandardScaler(), Ridge(alpha=1.0))
        model.fit([param_features(t.params) for t in done], [t.values[0] for t in done])
        return lambda centre, near: _best_first(model.predict([param_features(n.params) for n in near]))

    def repair(self, params: dict, changed: str, seen: set[str], salt: object) -> dict | None:
        """Parameters one more decision away from ``params`` (not ``changed``) that fit and were not
        evaluated, the most MFLOPs first; None when there are none."""
        child = ChildTrial(params, random.Random(0))
        self.space.suggest(child)  # replayed for the point's distributions
        self.space.suggest_train(child)
        best, best_mflops = None, -1.0
        for repaired, arch, train, name, _ in neighbours(self.space, child.used, child.distributions, salt):
            if name == changed or point_key(arch.to_dict(), train) in seen:
                continue
            mflops = self._fits(arch)
            if mflops is not None and mflops > best_mflops:
                best, best_mflops = repaired, mflops
        return best

    def _fits(self, arch: ArchSpec) -> float | None:
        """The check's answer (cached); 0 MFLOPs, "fits", without a check."""
        if self.check is None:
            return 0.0
        key = arch_key(arch.to_dict())
        if key not in self._checked:
            self._checked[key] = self.check(arch)
        return self._checked[key]


def _best_first(scores: np.ndarray) -> list[int]:
    """Indices by ascending score; stable, so the seeded shuffle breaks ties."""
    return np.argsort(scores, kind="stable").tolist()


def _change_posterior(done: list[optuna.trial.FrozenTrial], centre: dict, near: list[Neighbour]):
    """The posterior of the change each of ``near`` (neighbours of the parameters ``centre``) makes
    to the first objective: a Bayesian ridge regression on one-hot parameters (each value of each
    decision its own effect; ``done``'s first objective the target); the change's effect is the
    changed decision's new value's effect less its old one's. Parameters the change brings into
    existence are not counted: each untried one would add its prior variance, favouring changes
    that draw many (a new layer). Returns the change rows (neighbours, features), the coefficients'
    posterior mean (features,) and covariance (features, features)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import BayesianRidge

    def one_hot(params: dict) -> dict:
        return {f"{k}={v!r}": 1.0 for k, v in params.items()}

    # the neighbours' values are in the vocabulary: an untried value is a feature with the prior's
    # uncertainty, not one the vectoriser drops
    trained = [one_hot(t.params) for t in done]
    changed_to = [one_hot({n.name: n.params[n.name]}) for n in near]
    vectoriser = DictVectorizer(sparse=False).fit(trained + changed_to)
    model = BayesianRidge().fit(vectoriser.transform(trained), [t.values[0] for t in done])
    change = (vectoriser.transform(changed_to)
              - vectoriser.transform([one_hot({n.name: centre[n.name]}) for n in near]))  # (neighbours, features)
    return change, model.coef_, model.sigma_


def _expected_improvement(done: list[optuna.trial.FrozenTrial], centre: dict, near: list[Neighbour]) -> list[int]:
    """``near`` by the expected improvement E[max(0, −effect)] of their change's effect on the
    first objective (``_change_posterior``), largest first: large for a change seen to help and
    for one to a value no trained point has (the prior's spread of effects), small for one seen
    to be mediocre."""
    from scipy.stats import norm

    change, mean, cov = _change_posterior(done, centre, near)
    gain = -change @ mean  # (neighbours,) expected fall of the objective
    spread = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", change, cov, change), 1e-24))
    u = gain / spread
    improvement = spread * (u * norm.cdf(u) + norm.pdf(u))
    return _best_first(-improvement)


def _thompson(done: list[optuna.trial.FrozenTrial], centre: dict, near: list[Neighbour],
              rng: np.random.Generator) -> list[int]:
    """``near`` by their change's effect on the first objective under one draw (``rng``) of the
    coefficients from their posterior (``_change_posterior``), largest fall first: Thompson
    sampling. A change seen to help comes early in most draws, an untried value in some, so search
    seeds that share their trained points still try different neighbours."""
    change, mean, cov = _change_posterior(done, centre, near)
    draw = rng.multivariate_normal(mean, cov, method="cholesky")  # (features,)
    return _best_first(change @ draw)
