"""Predictor-based proposals (CubicML / AutoML-for-ranking style).

After ``startup`` finished trials, a random forest learns mean NE from the trials' parameters;
each new candidate is chosen from a pool of randomly sampled architectures: the pool's
predicted (NE, MFLOPs) Pareto set among the ``shortlist`` best predicted, one picked at random
(seeded). The chosen parameters are enqueued in the Optuna study, so the trial is an ordinary
Optuna trial with its parameters recorded. Before ``startup`` the study's sampler (random) decides.
"""
from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import TrialState
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_extraction import DictVectorizer

from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.proxies.cost import measure_cost
from unirank.search.pareto import pareto_front
from unirank.space.search_space import SearchSpace


class _RandomTrial:
    """Answers the space's suggest calls at random and records them (a pool member)."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.params = rng, {}

    def suggest_int(self, name: str, low: int, high: int) -> int:
        self.params[name] = int(self.rng.integers(low, high + 1))
        return self.params[name]

    def suggest_categorical(self, name: str, choices: list):
        self.params[name] = choices[int(self.rng.integers(len(choices)))]
        return self.params[name]


def param_features(params: dict) -> dict:
    """Parameters as a DictVectorizer row: numbers stay numeric, the rest is one-hot."""
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
            for k, v in params.items()}


class PredictorProposer:
    def __init__(self, space: SearchSpace, features: FeatureSpec, seed: int, pool: int = 256,
                 shortlist: int = 16, startup: int = 8):
        self.space, self.features = space, features
        self.rng = np.random.default_rng(seed)
        self.pool, self.shortlist, self.startup, self.seed = pool, shortlist, startup, seed

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters to enqueue for the next trial, or None (let the sampler decide)."""
        finished = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if t.params and not t.user_attrs.get("infeasible") and "metrics" in t.user_attrs]
        if len(finished) < self.startup:
            return None
        vectorizer = DictVectorizer(sparse=False)
        x = vectorizer.fit_transform([param_features(t.params) for t in finished])
        y = [t.user_attrs["metrics"]["mean_ne"] for t in finished]
        model = RandomForestRegressor(n_estimators=100, random_state=self.seed).fit(x, y)
        seen = {tuple(sorted(param_features(t.params).items())) for t in finished}
        pool = []
        for _ in range(self.pool):
            trial = _RandomTrial(self.rng)
            arch = self.space.suggest(trial)
            if tuple(sorted(param_features(trial.params).items())) not in seen:
                pool.append((trial.params, arch))
        if not pool:
            return None
        predicted = model.predict(vectorizer.transform([param_features(p) for p, _ in pool]))
        best = np.argsort(predicted)[: self.shortlist]
        scored = []
        for i in best:
            try:
                scored.append((i, float(predicted[i]), measure_cost(pool[i][1], self.features, latency_batch=0).mflops))
            except UnirankError:
                continue
        if not scored:
            return None
        front = pareto_front([(ne, mflops) for _, ne, mflops in scored])
        chosen = scored[front[int(self.rng.integers(len(front)))]][0]
        return pool[chosen][0]
