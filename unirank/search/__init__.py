"""Search: Optuna decides and remembers, Ray Tune runs the trials."""
from unirank.search.pareto import hypervolume_2d, pareto_front

__all__ = ["hypervolume_2d", "pareto_front", "run_study"]


def __getattr__(name: str):
    # run_study imports ray; keep `import unirank.search` light for report/export users.
    if name == "run_study":
        from unirank.search.runner import run_study
        return run_study
    raise AttributeError(name)
