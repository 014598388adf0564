"""Regularised evolution: children are small mutations of parents from the front, seeded."""
import optuna

from unirank.config import SpaceConfig
from unirank.search.evolution import EvolutionProposer, pareto_front
from unirank.space import PRESETS
from unirank.space.search_space import SearchSpace


def _study(space, directions):
    """A study holding the presets as trials with their parameters (as the searcher records them),
    with made-up objective values: this tests the proposer's logic, not a search result."""
    study = optuna.create_study(directions=directions, sampler=optuna.samplers.RandomSampler(seed=0))
    flat = {name: arch for name, arch in PRESETS.items() if arch.sequence is None}  # the data has no history
    for k, (name, arch) in enumerate(sorted(flat.items())):
        params, distributions = space.point(arch)
        values = [0.40 - 0.01 * k, 1.0 + k % 3][: len(directions)]
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, values=values,
                                                  user_attrs={"arch": arch.to_dict(), "preset": name}))
    return study


def test_children_change_one_or_two_decisions_of_a_front_parent(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize", "minimize"])
    front = {t.number for t in pareto_front(study.trials)}
    proposer = EvolutionProposer(space, seed=1)
    known = [t.user_attrs["arch"] for t in study.trials]
    for _ in range(30):
        parent = proposer.parent(study)
        assert parent.number in front
        child = proposer.mutate(parent)
        changed = [n for n in parent.params if n in child and child[n] != parent.params[n]]
        assert len(changed) <= 2, (parent.params, child)  # one or two decisions mutated …
        assert changed or set(child) != set(parent.params)  # … and something did change
        arch = space.suggest(optuna.trial.FixedTrial(child))  # always a valid point of the space
        assert space.point(arch)
    proposal = proposer.propose(study)
    assert proposal is not None
    assert space.suggest(optuna.trial.FixedTrial(proposal)).to_dict() not in known


def test_single_objective_tournament_and_seeded_proposals(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    study = _study(space, ["minimize"])
    best = min(study.trials, key=lambda t: t.values[0])
    picks = [EvolutionProposer(space, seed=s, tournament=len(study.trials)).parent(study) for s in range(5)]
    assert all(p.number == best.number for p in picks)  # a tournament over everyone picks the best
    assert EvolutionProposer(space, seed=7).propose(study) == EvolutionProposer(space, seed=7).propose(study)


def test_no_proposal_before_two_trials_have_finished(tiny_dataset):
    space = SearchSpace(SpaceConfig(), tiny_dataset.features)
    empty = optuna.create_study()
    assert EvolutionProposer(space).propose(empty) is None
