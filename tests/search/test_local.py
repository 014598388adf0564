"""Local search: proposals are one-decision neighbours of the best trial, which moves when beaten."""
import json
import optuna

from unirank.config import SpaceConfig
from unirank.proxies.cost import measure_cost
from unirank.search.evolution import pareto_front, trained_points
from unirank.search.local import LocalSearchProposer, neighbours
from unirank.space import PRESETS
from unirank.space.search_space import SearchSpace


def _add(study, space, params, values, **attrs):
    """A finished trial at ``params`` recorded as the searcher records one (arch in user attrs)."""
    fixed = optuna.trial.FixedTrial(params)
    arch = space.suggest(fixed)
    _, distributions = space.point(arch)
    study.add_trial(optuna.trial.create_trial(params={k: params[k] for k in distributions}, distributions=distributions,
                                              values=values, user_attrs={"arch": arch.to_dict(), **attrs}))
    return study.trials[-1]


def _study(space, directions):
    """The presets as trials with their parameters and made-up objective values: this tests the
    proposer's logic, not a search result."""
    study = optuna.create_study(directions=directions, sampler=optuna.samplers.RandomSampler(seed=0))
    flat = {name: arch for name, arch in PRESETS.items() if arch.sequence is None}  # the data has no history
    for k, (name, arch) in enumerate(sorted(flat.items())):
        _add(study, space, space.point(arch)[0], [0.40 - 0.01 * k, 1.0 + k % 3][: len(directions)], preset=name)
    return study


def _changed(a: dict, b: dict) -> list[str]:
    return [n for n in a if n in b and a[n] != b[n]]


def test_proposals_are_neighbours_of_the_best_and_the_centre_moves_when_beaten(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    best = min(study.trials, key=lambda t: t.values[0])
    proposal = LocalSearchProposer(space, seed=3).propose(study)
    assert len(_changed(best.params, proposal)) == 1  # exactly one decision of the best changed
    assert space.suggest(optuna.trial.FixedTrial(proposal)).to_dict() not in [t.user_attrs["arch"] for t in study.trials]
    assert proposal == LocalSearchProposer(space, seed=3).propose(study)  # seeded
    better = _add(study, space, proposal, [best.values[0] - 0.05])
    again = LocalSearchProposer(space, seed=3).propose(study)
    assert len(_changed(better.params, again)) == 1  # now around the new best


def test_an_exhausted_neighbourhood_moves_on_to_the_next_best(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    ranked = sorted(study.trials, key=lambda t: t.values[0])
    proposer = LocalSearchProposer(space, seed=0)
    size = len(neighbours(space, ranked[0].params, ranked[0].distributions))
    for _ in range(size):  # every neighbour of the best, each evaluated worse than it
        proposal = proposer.propose(study)
        if len(_changed(ranked[0].params, proposal)) != 1:
            break
        _add(study, space, proposal, [ranked[0].values[0] + 0.1])
    else:
        proposal = proposer.propose(study)
    assert len(study.trials) == len(ranked) + size  # each neighbour proposed once
    assert len(_changed(ranked[1].params, proposal)) == 1  # then around the second best


def test_pareto_objective_searches_around_the_front_and_waits_for_two_trials(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize", "minimize"])
    front = pareto_front(study.trials)
    proposal = LocalSearchProposer(space, seed=1).propose(study)
    assert any(len(_changed(t.params, proposal)) == 1 for t in front)
    assert LocalSearchProposer(space).propose(optuna.create_study()) is None


def test_the_searcher_hands_ray_neighbours_of_the_best_trial(tiny_dataset):
    """``search.sampler: local`` wired through the real searcher: what it hands to Ray is a
    one-decision neighbour of the best finished trial, recorded as an ordinary Optuna trial."""
    from unirank.config import config_from_dict
    from unirank.search.searcher import OptunaArchSearcher

    cfg = config_from_dict({"name": "t", "data": {"source": "synthetic"}, "search": {"sampler": "local"}})
    space = SearchSpace(cfg.space, tiny_dataset.features)
    study = _study(space, ["minimize", "minimize"])
    searcher = OptunaArchSearcher(study, space, tiny_dataset.features, cfg.budget.model_copy(update={"trials": 3}),
                                  {}, cfg.search)
    front = pareto_front(study.trials)
    for i in range(3):
        assert isinstance(searcher.suggest(f"t{i}"), dict)
    for entry in searcher.running.values():
        assert any(len(_changed(t.params, entry.trial.params)) == 1 for t in front)


def test_a_neighbour_over_the_cap_is_repaired_by_a_second_change_that_fits(tiny_dataset):
    """Under a cap at the best trial's own MFLOPs, a neighbour that grows it is replaced by the same
    change plus one more that brings it back under (the most MFLOPs of those that fit)."""
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    best = min(study.trials, key=lambda t: t.values[0])

    def mflops(params):
        return measure_cost(space.suggest(optuna.trial.FixedTrial(params)), tiny_dataset.features, latency_batch=0).mflops

    cap = mflops(best.params)
    near = neighbours(space, best.params, best.distributions, salt=(best.number, 0))  # as the proposer's, seed 0
    over = {(n, p[n]) for p, *_ in near if mflops(p) > cap for n in _changed(best.params, p)}
    assert over  # else the cap repairs nothing and this test could not fail
    proposer = LocalSearchProposer(space, seed=0, check=lambda arch: (lambda m: m if m <= cap else None)(
        measure_cost(arch, tiny_dataset.features, latency_batch=0).mflops))
    repaired = 0
    for _ in range(len(near)):
        proposal = proposer.propose(study)
        changed = _changed(best.params, proposal)
        if len(changed) == 2:
            repaired += 1
            assert mflops(proposal) <= cap
            assert any((n, proposal[n]) in over for n in changed)  # one of its changes alone was over the cap
        _add(study, space, proposal, [best.values[0] + 0.1])
    assert repaired > 0


def test_tpe_local_alternates_tpe_and_neighbours_of_the_best(tiny_dataset):
    """``search.sampler: tpe_local`` through the real searcher: TPE proposes one candidate, local
    search the next, so every second trial handed to Ray is a neighbour of the best."""
    from unirank.config import config_from_dict
    from unirank.search.searcher import OptunaArchSearcher
    from unirank.search.study import make_sampler

    cfg = config_from_dict({"name": "t", "data": {"source": "synthetic"}, "search": {"sampler": "tpe_local"}})
    assert isinstance(make_sampler(cfg), optuna.samplers.TPESampler)
    space = SearchSpace(cfg.space, tiny_dataset.features)
    study = _study(space, ["minimize"])
    study.sampler = make_sampler(cfg)
    best = min(study.trials, key=lambda t: t.values[0])
    searcher = OptunaArchSearcher(study, space, tiny_dataset.features, cfg.budget.model_copy(update={"trials": 4}),
                                  {}, cfg.search)
    for i in range(4):
        assert isinstance(searcher.suggest(f"t{i}"), dict)
    near = [len(_changed(best.params, searcher.running[f"t{i}"].trial.params)) == 1 for i in range(4)]
    assert near == [False, True, False, True]


def test_tpe_local_turns_follow_the_study_so_a_resumed_search_keeps_them(tiny_dataset):
    """Whose turn it is comes from the searched trials in the study, not from a counter of the
    process: a fresh proposer (a resumed ``unirank search``) answers as the first would have."""
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])  # presets only: the first searched trial is TPE's
    assert LocalSearchProposer(space, seed=1, every=2).propose(study) is None
    best = min(study.trials, key=lambda t: t.values[0])
    _add(study, space, best.params, [best.values[0] + 0.2])  # one searched trial (TPE's) ended
    for _ in range(2):  # the same answer from the process that ran it and from a new one
        proposal = LocalSearchProposer(space, seed=1, every=2).propose(study)
        assert proposal is not None and len(_changed(best.params, proposal)) == 1
    _add(study, space, proposal, [best.values[0] + 0.1])
    assert LocalSearchProposer(space, seed=1, every=2).propose(study) is None  # TPE's turn again


def test_predicted_order_tries_first_the_change_that_helped_elsewhere(tiny_dataset):
    """Trials away from the best show one decision (a dense encoding) lowering NE wherever it is
    taken; ranked by the additive model, the best's neighbour taking it comes first — the random order
    proposes it only by chance."""
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    best = min(study.trials, key=lambda t: t.values[0])
    good = next(e for e in SpaceConfig().dense_encoding if e != best.params["dense_encoding"])
    for t in sorted(study.trials, key=lambda t: t.values[0])[1:]:  # each other point with it: better, not best
        _add(study, space, {**t.params, "dense_encoding": good}, [t.values[0] - 0.009])
    for seed in range(3):
        proposal = LocalSearchProposer(space, seed=seed, order="predicted").propose(study)
        assert _changed(best.params, proposal) == ["dense_encoding"] and proposal["dense_encoding"] == good
    randomly = [LocalSearchProposer(space, seed=seed).propose(study) for seed in range(6)]
    assert any(_changed(best.params, p) != ["dense_encoding"] for p in randomly)  # the order is what chose it


def test_expected_improvement_tries_untried_values_before_a_small_known_gain(tiny_dataset):
    """Each point away from the best is matched by one taking another dense encoding, better by
    0.001 (small beside the presets' spread of 0.01 a step). The predicted order ranks that change
    before non-numeric values no trained point has taken (their effect is 0 to a ridge regression;
    an untried number it extrapolates); expected improvement, whose prior gives an untried value
    the study's spread of effects, after them — and its proposal changes one decision of the best
    to an untried value."""
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    best = min(study.trials, key=lambda t: t.values[0])
    good = next(e for e in SpaceConfig().dense_encoding if e != best.params["dense_encoding"])
    for t in sorted(study.trials, key=lambda t: t.values[0])[1:]:
        _add(study, space, {**t.params, "dense_encoding": good}, [t.values[0] - 0.001])
    done = trained_points(study)
    taken = {(k, repr(v)) for t in done for k, v in t.params.items()}
    near = neighbours(space, best.params, best.distributions)
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    untried = [i for i, n in enumerate(near) if (n.name, repr(n.params[n.name])) not in taken and not number(n.params[n.name])]
    known = next(i for i, n in enumerate(near) if n.name == "dense_encoding" and n.params["dense_encoding"] == good)
    assert untried
    for order, first in (("predicted", True), ("expected_improvement", False)):
        ranked = LocalSearchProposer(space, order=order)._predictor(done)(best.params, near)
        assert all(ranked.index(known) < ranked.index(i) for i in untried) == first, order
    for seed in range(3):
        proposal = LocalSearchProposer(space, seed=seed, order="expected_improvement").propose(study)
        (changed,) = _changed(best.params, proposal)
        assert (changed, repr(proposal[changed])) not in taken


def test_thompson_order_follows_seen_effects_on_average_and_differs_by_seed(tiny_dataset):
    """Where one decision (a dense encoding) changed NE by ±0.009 wherever it was taken, draws from
    the Bayesian ridge's posterior rank the best's neighbour taking it early when it helped and
    late when it hurt, on average over seeds; the draws differ by search seed, so seeds sharing
    their trained points propose different neighbours (expected improvement's order depends on the
    seed only through ties), and a seed proposes the same again."""
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    mean_rank = {}
    for effect in (-0.009, 0.009):
        study = _study(space, ["minimize"])
        best = min(study.trials, key=lambda t: t.values[0])
        other = next(e for e in SpaceConfig().dense_encoding if e != best.params["dense_encoding"])
        for t in sorted(study.trials, key=lambda t: t.values[0])[1:]:
            _add(study, space, {**t.params, "dense_encoding": other}, [t.values[0] + effect])
        done, near = trained_points(study), neighbours(space, best.params, best.distributions)
        known = next(i for i, n in enumerate(near) if n.name == "dense_encoding" and n.params["dense_encoding"] == other)
        ranks = [LocalSearchProposer(space, seed=seed, order="thompson")._predictor(done)(best.params, near).index(known)
                 for seed in range(20)]
        mean_rank[effect] = sum(ranks) / len(ranks)
        assert len(set(ranks)) > 1
    assert mean_rank[-0.009] < len(near) / 2 < mean_rank[0.009]
    proposals = [LocalSearchProposer(space, seed=seed, order="thompson").propose(study) for seed in range(5)]
    assert len({json.dumps(p, sort_keys=True) for p in proposals}) > 1
    assert LocalSearchProposer(space, seed=3, order="thompson").propose(study) == proposals[3]
